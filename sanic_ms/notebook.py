"""What the lab notebooks share: serve apps from a cell, scratch databases, a lab's test progress.

Every notebook under ``notebooks/`` opens with ``from sanic_ms import notebook as nb`` and then::

    dsn = await nb.database("nb01", tables=True)  # a fresh database, dropped at the end
    url = await nb.start(app)  # the app on a free loopback port, in this kernel
    status, body = await nb.call("GET", url + "/users/1")
    await nb.lab("01")  # run pytest labs/01, show the tasks passed; never raises
    await nb.cleanup()  # stop every app, drop every database

``database`` also sets aside, in the kernel only, the environment variables that would override
the settings a notebook gives its apps (``DATABASE_URL``, ``<NAME>_SERVICE_URL``, ``ZIPKIN_URL``).

Apps run in the kernel's own event loop, which keeps running between cells, so a server started in
one cell answers in the next. Cells may be run again: importing this module sets
``Sanic.test_mode`` (a second app with the same name is allowed then), and ``start`` stops an
earlier app of the same name first. If a notebook stops half way, the kernel's exit drops its
databases anyway (``atexit``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import html
import json
import os
import re
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sanic import Sanic

from grader import postgres

from .serve import serve

REPO_ROOT = postgres.REPO_ROOT

# A kernel starts in notebooks/; the notebooks import the repository's other packages (examples,
# bench, grader) the way the tests do from the repository root.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Notebook cells are rerun; apps keep their names (users, cities ...), which Sanic then allows.
Sanic.test_mode = True

_servers: dict[str, tuple[contextlib.AsyncExitStack, Sanic]] = {}  # name -> (what stops it, app)
_databases: list[str] = []  # DSNs this kernel created, dropped by cleanup() or at exit
_threads: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []  # start_in_thread servers


# --------------------------------------------------------------------------- databases

# Environment variables override an app's own settings (sanic_ms.settings). A notebook wires its
# apps explicitly (its database, its services on loopback ports), so in the kernel the variables
# that would send them elsewhere are set aside once PostgreSQL is resolved (docker-compose's
# Jupyter sets DATABASE_URL and USERS_SERVICE_URL...). The lab's tests get them back.
_REDIRECTS = ("DATABASE_URL", "DB_REPLICA_URL", "ZIPKIN_URL")
_lab_environ: dict[str, str] | None = None


def _own_settings() -> None:
    global _lab_environ
    if _lab_environ is not None:
        return
    postgres.resolve()  # cached for this process: decided with the environment as it was
    _lab_environ = dict(os.environ)
    for name in list(os.environ):
        if name in _REDIRECTS or name.endswith("_SERVICE_URL"):
            del os.environ[name]


async def database(prefix: str, *, tables: bool = False, rows: bool = False) -> str:
    """A new empty database named ``<prefix>_<random>`` on the resolved server; returns its DSN.

    ``tables=True`` creates the example services' tables; ``rows=True`` also adds the demo's rows
    (cities Shanghai and Lisbon, roles admin and student, user 1 Ada in Lisbon, an admin).
    """
    _own_settings()
    dsn = await postgres.create_database(prefix)
    _databases.append(dsn)
    if tables or rows:
        import asyncpg

        from examples.schema import create_tables

        conn = await asyncpg.connect(dsn)
        try:
            await create_tables(conn)
            if rows:
                await conn.executemany(
                    "INSERT INTO cities (name) VALUES ($1)", [("Shanghai",), ("Lisbon",)]
                )
                await conn.executemany(
                    "INSERT INTO roles (name) VALUES ($1)", [("admin",), ("student",)]
                )
                await conn.execute(
                    "INSERT INTO users (name, age, sex, city_id, role_id) "
                    "VALUES ('Ada', 36, 'f', 2, 1)"
                )
        finally:
            await conn.close()
    return dsn


async def drop_databases() -> None:
    while _databases:
        await postgres.drop_database(_databases.pop())


@atexit.register
def _drop_left_over() -> None:
    # The kernel is exiting without cleanup() (a cell failed, the notebook was closed): its loop
    # is gone, so drop the databases from a fresh one.
    if _databases:
        with contextlib.suppress(Exception):
            asyncio.run(drop_databases())


# --------------------------------------------------------------------------- serving apps


async def start(app: Sanic, port: int = 0) -> str:
    """Serve ``app`` on a loopback port in this kernel's loop until :func:`stop`; its URL."""
    await stop(app.name)
    app.config.MOTD = False  # no startup banner in the notebook
    stack = contextlib.AsyncExitStack()
    url = await stack.enter_async_context(serve(app, port=port))
    _servers[app.name] = (stack, app)
    return url


async def stop(name: str | Sanic | None = None, within: float = 10.0) -> None:
    """Stop one app started by :func:`start` (by name or app), or every one (newest first).

    Bounded: an app whose pool waits for a connection that was never given back is stopped after
    ``within`` seconds, its pool terminated, and a line says so.
    """
    if isinstance(name, Sanic):
        name = name.name
    names = [name] if name is not None else list(reversed(_servers))
    for one in names:
        entry = _servers.pop(one, None)
        if entry is None:
            continue
        stack, app = entry
        try:
            await asyncio.wait_for(stack.aclose(), within)
        except TimeoutError:
            db = getattr(app.ctx, "db", None)
            for pool in (getattr(db, "pool", None), getattr(db, "replica", None)):
                if pool is not None:
                    pool.terminate()
            print(
                f"app {one!r} did not stop within {within:.0f} s: its pool waited for a connection "
                "that was never given back; the pool was terminated"
            )


def start_in_thread(app: Any) -> str:
    """Serve an aiohttp ``app`` from a thread with its own event loop; returns its URL.

    For a downstream that must keep answering while this kernel's loop is blocked on purpose
    (lab 00's blocking handlers call it). :func:`cleanup` stops it.
    """
    from aiohttp import web

    ready: Future[str] = Future()
    loop = asyncio.new_event_loop()

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        stopping = asyncio.Event()
        _threads.append((loop, stopping))
        ready.set_result(f"http://127.0.0.1:{port}")
        await stopping.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    return ready.result(timeout=10)


def _stop_threads() -> None:
    while _threads:
        loop, stopping = _threads.pop()
        loop.call_soon_threadsafe(stopping.set)


async def examples(dsn: str, **settings: Any) -> dict[str, str]:
    """The users, cities and roles services on loopback ports; returns name -> base URL.

    ``settings`` go to all three (``ZIPKIN_URL=...``, ``LOG_LEVEL=...``).
    """
    from examples.cities.server import create_app as create_cities
    from examples.roles.server import create_app as create_roles
    from examples.users.server import create_app as create_users

    base = {"DATABASE_URL": dsn, "DB_MIN_SIZE": 1, "LOG_LEVEL": "WARNING", **settings}
    urls = {
        "cities": await start(create_cities(base)),
        "roles": await start(create_roles(base)),
    }
    urls["users"] = await start(
        create_users({**base, "SERVICES": {"cities": urls["cities"], "roles": urls["roles"]}})
    )
    return urls


async def cleanup() -> None:
    """Stop every app this kernel started, unplug the student's code, drop every database."""
    await stop()
    _stop_threads()
    _undo_plugs()
    await drop_databases()


# --------------------------------------------------------------------------- the student's code


@dataclass
class StudentCode:
    """The code a notebook runs for a lab's files: the student's, or the reference with a note."""

    lab: str
    files: tuple[str, ...]
    modules: dict[str, Any]  # file -> the module the notebook uses for it
    yours: bool
    note: str

    def __getitem__(self, filename: str) -> Any:
        return self.modules[filename]

    def __str__(self) -> str:
        return self.note

    def __repr__(self) -> str:
        return self.note

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.yours else "#ef6c00"
        return (
            f"<div style='border-left:4px solid {color};padding:4px 10px'>"
            f"{html.escape(self.note).replace(chr(10), '<br>')}</div>"
        )


_plugged: list[Any] = []  # the MonkeyPatch of every plugged lab, undone by cleanup()


def _undo_plugs() -> None:
    while _plugged:
        _plugged.pop().undo()


def _plug(lab_id: str, files: tuple[str, ...], solution: bool, plug: bool) -> tuple[Any, dict]:
    """Load (and with ``plug``, plug in) the lab's files the way the lab's tests do."""
    import pytest

    from grader import manifest
    from labs.conftest import Student  # the seam of the lab tests: the same code, the same rules

    lab = manifest.load()[lab_id]
    patch = pytest.MonkeyPatch()
    student = Student(lab, lab.solution_folder if solution else lab.folder, patch)
    try:
        modules = {name: student.plug(name) if plug else student.load(name) for name in files}
    except pytest.fail.Exception as exc:  # the file does not load; the message says why
        patch.undo()
        raise RuntimeError(str(exc)) from None
    except Exception:
        patch.undo()
        raise
    return patch, modules


def _failure(exc: BaseException) -> str:
    from labs.conftest import RAISED_TODOS

    if RAISED_TODOS:  # a stub ran, maybe inside a handler that turned it into a 500: name it
        return RAISED_TODOS[0]
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text = f"NotImplementedError: {text}"
    elif not isinstance(exc, AssertionError | RuntimeError):
        text = f"{type(exc).__name__}: {text}"
    return _first_lines(text, 6)


async def student_code(
    lab_id: str,
    *files: str,
    plug: bool = True,
    check: Any = None,
    solution: bool = False,
) -> StudentCode:
    """Run this notebook with the student's ``labs/<lab_id>/<file>`` plugged into the framework.

    The same seam as the lab's tests (``labs/conftest.py``, ``Student.plug``): ``sanic_ms.db`` and
    every name taken from it become the student's, so apps created afterwards run their code.
    ``check``, an async function of the modules (``{file: module}``), tries that code once; when
    loading or ``check`` fails, the reference modules are used instead and the returned
    :class:`StudentCode` (displayed by the cell) says so and why. Undone by :func:`cleanup`.
    ``plug=False`` only loads the files (lab 00's app module); ``solution=True`` uses solutions/.
    """
    import importlib

    from grader import manifest
    from labs.conftest import RAISED_TODOS

    RAISED_TODOS.clear()
    started_before = set(_servers)
    imported_before = set(sys.modules)
    folder = "solutions" if solution else "labs"
    where = ", ".join(f"{folder}/{lab_id}/{name}" for name in files)
    try:
        patch, modules = _plug(lab_id, files, solution, plug)
    except Exception as exc:  # whatever the student's file does wrong, the notebook goes on
        reason = _failure(exc)
    else:
        try:
            if check is not None:
                await asyncio.wait_for(check(modules), 30)
        except Exception as exc:
            for name in set(_servers) - started_before:  # apps built on the failed code
                await stop(name)
            patch.undo()
            # Modules first imported during the check took names from the student's code (an
            # example service's `from sanic_ms.doc import ...`): forget them, so the next import
            # binds to the reference.
            for module in set(sys.modules) - imported_before:
                if module.startswith(("sanic_ms", "examples")):
                    del sys.modules[module]
            reason = (
                _failure(exc)
                if not isinstance(exc, TimeoutError)
                else ("it did not finish within 30 s (something waits forever)")
            )
        else:
            _plugged.append(patch)
            return StudentCode(lab_id, files, modules, True, f"Running your code: {where}.")
    lab = manifest.load()[lab_id]
    reference = {name: importlib.import_module(_module_name(lab.files[name])) for name in files}
    note = (
        f"Your code ({where}) is not ready yet, so this notebook runs the reference instead.\n"
        f"What happened: {reason}\n"
        f"Rerun this cell once `pytest {folder}/{lab_id}` passes more tasks."
    )
    return StudentCode(lab_id, files, reference, False, note)


def _module_name(source: str) -> str:
    return source.removesuffix(".py").replace("/", ".")


# --------------------------------------------------------------------------- a pool over time


@dataclass
class Timeline:
    """Busy and idle connections of an asyncpg pool, sampled every few ms, and marked events."""

    began: float = field(default_factory=time.perf_counter)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (s, busy, idle)
    marks: list[tuple[float, str]] = field(default_factory=list)  # (s, what happened)

    def now(self) -> float:
        return time.perf_counter() - self.began

    def mark(self, what: str) -> None:
        self.marks.append((self.now(), what))


@contextlib.asynccontextmanager
async def pool_timeline(pool: Any, every: float = 0.005) -> Any:
    """``async with nb.pool_timeline(pool) as timeline:`` samples the pool while the block runs."""
    timeline = Timeline()

    async def sample() -> None:
        while True:
            size, idle = pool.get_size(), pool.get_idle_size()
            timeline.samples.append((timeline.now(), size - idle, idle))
            await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield timeline
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def close_database(db: Any, within: float = 5.0) -> None:
    """Close a ``Database``; if a connection was never given back, terminate the pool and say so."""
    pool = db.pool
    try:
        await asyncio.wait_for(db.close(), within)
    except TimeoutError:
        if pool is not None:
            pool.terminate()
        raise AssertionError(
            f"a connection was never given back to the pool: close() waited {within:.0f} s for it"
        ) from None


@contextlib.contextmanager
def quiet(*loggers: str) -> Any:
    """Silence these loggers inside the block (a probe's expected errors), restoring them after."""
    import logging

    found = [logging.getLogger(name) for name in loggers]
    before = [logger.disabled for logger in found]
    for logger in found:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(found, before, strict=True):
            logger.disabled = was


# --------------------------------------------------------------------------- HTTP


async def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    show: bool = False,
) -> tuple[int, Any]:
    """One HTTP request; returns ``(status, parsed JSON or text)``, also printed when ``show``.

    ``body`` is sent as JSON unless it is a ``str`` (sent as is, to show what bad input gets).
    """
    kwargs: dict[str, Any] = {"headers": dict(headers or {})}
    if isinstance(body, str):
        kwargs["data"] = body
        kwargs["headers"].setdefault("content-type", "application/json")
    elif body is not None:
        kwargs["json"] = body
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, **kwargs) as response:
            text = await response.text()
            try:
                answer = json.loads(text) if text else None
            except ValueError:
                answer = text
    if show:
        sent = (
            f"  {body if isinstance(body, str) else json.dumps(body)}" if body is not None else ""
        )
        shown = json.dumps(answer, indent=2, default=str) if not isinstance(answer, str) else answer
        print(f"> {method} {url}{sent}\n< {response.status} {shown}")
    return response.status, answer


async def show(method: str, url: str, body: Any = None, **kwargs: Any) -> None:
    """Print a request and its answer (status, JSON envelope): ``await nb.show("GET", url)``."""
    await call(method, url, body, show=True, **kwargs)


async def timed_calls(url: str, concurrency: int, method: str = "GET") -> list[tuple[int, float]]:
    """``concurrency`` requests at once to ``url``; ``(status, seconds)`` of each, in order sent.

    One connection per request (no pooling), as that many separate clients would do.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, float]:
            began = time.perf_counter()
            async with session.request(method, url) as response:
                await response.read()
            return response.status, time.perf_counter() - began

        return await asyncio.gather(*(one() for _ in range(concurrency)))


# --------------------------------------------------------------------------- a lab's progress


@dataclass
class TaskProgress:
    number: int
    title: str
    points: int
    passed: int  # tests of this task that passed
    tests: int
    first_failure: str = ""

    @property
    def done(self) -> bool:
        return self.tests > 0 and self.passed == self.tests


@dataclass
class LabProgress:
    """What ``pytest labs/NN`` said, per task: shown as a table, never raised."""

    lab: str
    title: str
    tasks: list[TaskProgress] = field(default_factory=list)
    summary: str = ""  # pytest's last line ("3 failed in 2.10s"), or why nothing ran
    seconds: float = 0.0
    solution: bool = False

    @property
    def points(self) -> int:
        return sum(t.points for t in self.tasks if t.done)

    @property
    def possible(self) -> int:
        return sum(t.points for t in self.tasks)

    @property
    def next_task(self) -> TaskProgress | None:
        return next((t for t in self.tasks if not t.done), None)

    def _advice(self) -> str:
        todo = self.next_task
        if not self.tasks:
            return self.summary
        if todo is None:
            return f"All tasks of lab {self.lab} pass. Well done!"
        return (
            f"Next: task {todo.number}, {todo.title!r} (labs/{self.lab}/README.md, "
            f'"## {todo.number}."). Hint: python -m grader hint {self.lab} {todo.number}'
        )

    def __str__(self) -> str:
        where = "solutions" if self.solution else "labs"
        lines = [
            f"pytest {where}/{self.lab}: {self.summary}  ({self.seconds:.1f} s)",
            f"Lab {self.lab} {self.title}: {self.points}/{self.possible} points",
        ]
        for t in self.tasks:
            mark = "done" if t.done else "todo"
            lines.append(
                f"  [{mark}] task {t.number} {t.title}: {t.passed}/{t.tests} tests, {t.points} pt"
            )
        lines.append(self._advice())
        todo = self.next_task
        if todo is not None and todo.first_failure:
            lines.append("\nWhat the first failing test of that task said:\n" + todo.first_failure)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        where = "solutions" if self.solution else "labs"
        rows = []
        for t in self.tasks:
            color = "#2e7d32" if t.done else "#c62828"
            mark = "✔" if t.done else "✘"
            rows.append(
                f"<tr><td style='color:{color}'>{mark}</td><td>{t.number}</td>"
                f"<td style='text-align:left'>{html.escape(t.title)}</td>"
                f"<td>{t.passed}/{t.tests}</td><td>{t.points if t.done else 0}/{t.points}</td></tr>"
            )
        failure = ""
        todo = self.next_task
        if todo is not None and todo.first_failure:
            failure = (
                "<details><summary>What the first failing test of that task said</summary>"
                f"<pre>{html.escape(todo.first_failure)}</pre></details>"
            )
        return (
            f"<p><b>Lab {self.lab}, {html.escape(self.title)}</b>: "
            f"{self.points}/{self.possible} points &nbsp; <code>pytest {where}/{self.lab}</code>: "
            f"{html.escape(self.summary)} ({self.seconds:.1f} s)</p>"
            "<table><tr><th></th><th>task</th><th style='text-align:left'>title</th>"
            f"<th>tests passed</th><th>points</th></tr>{''.join(rows)}</table>"
            f"<p>{html.escape(self._advice())}</p>{failure}"
        )


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_lines(message: str, limit: int = 12) -> str:
    lines = [line for line in ANSI.sub("", message).strip().splitlines() if line.strip()]
    return "\n".join(lines[:limit])


def progress_of(lab_id: str, tests: dict[str, dict], summary: str, seconds: float) -> LabProgress:
    """Per-task progress from ``grader.labrun``'s results ({nodeid: {lab, task, outcome}})."""
    from grader import manifest

    lab = manifest.load()[lab_id]
    progress = LabProgress(lab.id, lab.title, summary=summary, seconds=seconds)
    for task in lab.tasks:
        mine = [
            t for t in tests.values() if t.get("lab") == lab.id and t.get("task") == task.number
        ]
        failing = [t for t in mine if t["outcome"] != "passed"]
        progress.tasks.append(
            TaskProgress(
                task.number,
                task.title,
                task.points,
                passed=len(mine) - len(failing),
                tests=len(mine),
                first_failure=_first_lines(failing[0].get("message", "")) if failing else "",
            )
        )
    return progress


async def lab(
    lab_id: str, *, solution: bool = False, display: bool = True, limit: float = 120.0
) -> LabProgress:
    """Run ``pytest labs/<lab_id>`` in a child process and show which tasks pass.

    Never raises because tests fail: an unfinished lab is the normal state. The table is displayed
    (HTML in Jupyter, text elsewhere) and returned. ``solution=True`` tests ``solutions/<lab_id>``.
    The run is stopped after ``limit`` seconds, and the table says so, naming the lab.
    """
    from grader import labrun, manifest

    labs = manifest.load()
    if lab_id not in labs or not labs[lab_id].folder.is_dir():
        progress = LabProgress(lab_id, "(not in labs/manifest.toml yet)", summary="no such lab yet")
        _show(progress, display)
        return progress
    if display:
        print(f"running pytest {'solutions' if solution else 'labs'}/{lab_id} ...", flush=True)
    result = await labrun.run_async(
        [f"labs/{lab_id}"],
        solution=solution,
        limit=limit,
        env=dict(_lab_environ or os.environ),  # the lab's tests get the variables set aside
        args=("--color=no",),
    )
    summary = result.summary
    if not result.tests and not result.problem:
        summary = f"no results (pytest exit code {result.returncode}): {summary}"
    progress = progress_of(lab_id, result.tests, summary, result.seconds)
    progress.solution = solution
    _show(progress, display)
    return progress


def _show(obj: Any, display: bool) -> None:
    if not display:
        return
    try:
        from IPython import get_ipython
        from IPython.display import display as ipython_display
    except ImportError:
        print(obj)
        return
    if get_ipython() is None:
        print(obj)
    else:
        ipython_display(obj)


# --------------------------------------------------------------------------- traces


@dataclass
class Bar:
    """One span as a bar of a waterfall: depth in the tree, start and length in ms."""

    depth: int
    start_ms: float
    duration_ms: float
    service: str
    label: str
    kind: str


def waterfall(spans: list[dict[str, Any]]) -> list[Bar]:
    """The spans of one trace (Zipkin v2 JSON) in tree order, parents above their children."""
    if not spans:
        return []
    ids = {s["id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parentId")
        children.setdefault(parent if parent in ids else None, []).append(span)
    for kids in children.values():
        kids.sort(key=lambda s: s.get("timestamp", 0))
    origin = min(s.get("timestamp", 0) for s in spans)
    bars: list[Bar] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        tags = span.get("tags") or {}
        service = (span.get("localEndpoint") or {}).get("serviceName", "?")
        kind = span.get("kind", "LOCAL")
        label = f"{service}: {span.get('name', '')}"
        if "sql.query" in tags:
            label = f"{service} -> postgresql: {' '.join(tags['sql.query'].split())[:40]}"
        elif kind == "CLIENT":
            remote = (span.get("remoteEndpoint") or {}).get("serviceName") or tags.get(
                "peer.service", "?"
            )
            label = f"{service} -> {remote}: {span.get('name', '')} {tags.get('http.path', '')}"
        bars.append(
            Bar(
                depth,
                (span.get("timestamp", origin) - origin) / 1000,
                span.get("duration", 0) / 1000,
                service,
                label.strip(),
                kind,
            )
        )
        for kid in children.get(span["id"], []):
            walk(kid, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return bars
