"""What every lab's tests share: load the student's file, plug it in, and explain failures.

How a lab test reaches the student's code (the seam)
----------------------------------------------------
``labs/manifest.toml`` lists, per lab, the files a student edits and the module each one rebuilds
(``db.py`` -> ``sanic_ms/db.py``). A test never imports the student's file by name. It asks the
``student`` fixture:

- ``student.load("db.py")`` executes ``labs/01/db.py`` (or ``solutions/01/db.py`` when pytest runs
  with ``--solution``) as a fresh private module (``_lab01_db``) and returns it;
- ``student.plug("db.py")`` loads it the same way, then makes the reference framework use it for the
  rest of the test: ``sys.modules["sanic_ms.db"]`` becomes the student's module, and every name in an
  imported ``sanic_ms`` / ``examples`` module that pointed at the reference module or at something
  defined in it (``from sanic_ms.db import Database``) points at the student's version instead.
  Everything is restored when the test ends (``monkeypatch``). An app the test then builds with
  ``sanic_ms.create_app`` is the reference app with only the student's piece swapped in, so a
  student stuck in lab 01 can still do lab 03.

Grading async code
------------------
Every async lab test runs under a watchdog thread (``LoopWatchdog``) that pings the event loop every
20 ms. When the loop stays silent for longer than ``BLOCKING_LIMIT`` and the loop thread's stack
shows a line of the student's file, the test fails with that line and how long the loop was stuck.
A task the student's code started and left running when the test ended fails the test as well,
and so does a coroutine never awaited (pytest reports it; we reword it).

No lab command hangs
--------------------
Every phase of a lab test (fixture setup, the test, fixture teardown) runs under a ``PhaseGuard``:
after its limit the guard cancels every task of the test's loop, repeatedly for ``GRACE`` seconds
(asyncpg, for one, then terminates a pool whose ``close()`` waits for a connection nobody gives
back); a phase still stuck after that (a synchronous wait) ends the process, saying why on the
terminal. pytest-timeout alone is not enough: 2.4.0 never times out the teardown of a test that
already failed. The failure names the likely cause in the lab's words (``a connection was never
given back to the pool``), and the lab's own fixtures check for that leak before they close.

Failure messages
----------------
``pytest_runtest_makereport`` rewrites the raw failures a student cannot act on: a
``NotImplementedError("TODO task N: ...")`` from a starter stub (also when Sanic caught it inside a
handler and only the log shows it), a timeout, a never-awaited coroutine, an ImportError. The
message names the task as the README does and ends with the hint command; every other failure of a
lab test gets the same closing lines, so each one says which task it checks.

Fixtures: ``lab`` (its manifest entry), ``student``, ``database_url`` (a fresh PostgreSQL database
for the session, dropped afterwards), ``serve`` (run an app on a loopback port in the test's loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import importlib.util
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import aiohttp
import pytest

from grader import manifest

LABS_DIR = Path(__file__).resolve().parent
REPO_ROOT = LABS_DIR.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
# Seconds per test. A lab's whole suite takes a few seconds; the margin is for a loaded machine
# (the first test of a session also creates the database).
LAB_TEST_TIMEOUT = float(os.environ.get("LAB_TEST_TIMEOUT", 20))
GRACE = 5  # seconds a stuck phase gets, after its tasks were cancelled, before harsher steps
BLOCKING_LIMIT = 0.1  # seconds; asyncio's own slow-callback threshold in debug mode
PING_EVERY = 0.02
STUDENT_FILES: frozenset[str] = frozenset()

_MANIFEST: dict[str, manifest.Lab] | None = None


def labs() -> dict[str, manifest.Lab]:
    global _MANIFEST
    if _MANIFEST is None:
        _MANIFEST = manifest.load()
    return _MANIFEST


def lab_of(path: Path) -> manifest.Lab | None:
    """The lab a test file belongs to (``labs/03/tests/test_x.py`` -> lab 03)."""
    try:
        rel = Path(path).resolve().relative_to(LABS_DIR)
    except ValueError:
        return None
    # Only the lab's own tests: a suite a student writes (lab 06) runs under its own rules.
    if len(rel.parts) < 3 or rel.parts[1] != "tests":
        return None
    return labs().get(rel.parts[0])


# --------------------------------------------------------------------------- options and collection


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--solution",
        action="store_true",
        default=False,
        help="test the finished files in solutions/NN instead of the student's labs/NN",
    )
    parser.addoption(
        "--mutants",
        default=None,
        help="(python -m grader check) run each test against the mistakes planted in this folder",
    )
    parser.addoption(
        "--task",
        type=int,
        default=None,
        help="run only the lab tests of this task (README heading '## N.')",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Lab tests start Sanic apps in the test's own loop, several per session, under one name.
    from sanic import Sanic

    Sanic.test_mode = True
    global MUTANTS_FOLDER, PLANTED_NAMES
    if config.getoption("--mutants", None):
        MUTANTS_FOLDER = str(Path(config.getoption("--mutants")).resolve())
        PLANTED_NAMES = tuple(_planted(config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = config.getoption("--task")
    if only is not None:
        other = [i for i in items if lab_of(i.path) is not None and _task_of(i) != only]
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = [i for i in items if i not in other]
    for item in items:
        lab = lab_of(item.path)
        if lab is None:
            continue
        item.stash[LIMIT] = _limit(item)
        if item.get_closest_marker("timeout") is None:
            # A backstop only: the PhaseGuard stops the test first, with a better message.
            item.add_marker(pytest.mark.timeout(LAB_TEST_TIMEOUT + 3 * GRACE))
        marker = item.get_closest_marker("task")
        numbers = {t.number for t in lab.tasks}
        if marker is None or not marker.args or marker.args[0] not in numbers:
            item.add_marker(
                pytest.mark.skip(reason=f"lab {lab.id}: not marked with a task of the manifest")
            )
            item.user_properties.append(("task_error", True))
        if asyncio.iscoroutinefunction(getattr(item, "obj", None)):
            # First, so it is set up before (and torn down after) the fixtures that start apps.
            item.fixturenames.insert(0, "_loop_watchdog")


# --------------------------------------------------------------------------- the student's files


def _describe_import_failure(path: Path, exc: BaseException) -> str:
    rel = path.relative_to(REPO_ROOT)
    if isinstance(exc, SyntaxError):
        return (
            f"Python cannot read {rel}: {exc.msg} on line {exc.lineno}.\n"
            f"    {(exc.text or '').rstrip()}\n"
            "Fix that line first: no test of this lab can run until the file loads."
        )
    if isinstance(exc, ImportError):
        return (
            f"{rel} could not be loaded because one of its imports failed: {exc}.\n"
            "Check the `import` lines at the top of the file: the lab files import the finished "
            "framework (`from sanic_ms... import ...`) and standard libraries only."
        )
    where = traceback.extract_tb(exc.__traceback__)[-1]
    return (
        f"{rel} raised {type(exc).__name__}: {exc} while Python loaded it (line {where.lineno}).\n"
        "Code at the top level of the file runs on import: keep the work inside functions."
    )


RAISED_TODOS: list[str] = []  # "TODO task N: ..." raised by a student's file during this test


class TodoNotDone(NotImplementedError):
    """``NotImplementedError`` as the starters raise it, recording where for the failure report."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        caller = sys._getframe(1)
        rel = Path(caller.f_code.co_filename)
        with contextlib.suppress(ValueError):
            rel = rel.relative_to(REPO_ROOT)
        RAISED_TODOS.append(
            f"{rel}, line {caller.f_lineno}: NotImplementedError: {args[0] if args else ''}"
        )


@dataclass
class Student:
    """The files of one lab that the student edits, and the way to plug them into the framework."""

    lab: manifest.Lab
    folder: Path  # labs/NN or, with --solution, solutions/NN
    monkeypatch: pytest.MonkeyPatch
    loaded: dict[str, ModuleType] = field(default_factory=dict)

    def path(self, filename: str) -> Path:
        return self.folder / filename

    def load(self, filename: str) -> ModuleType:
        """Execute the student's file as a fresh private module (once per test)."""
        if filename in self.loaded:
            return self.loaded[filename]
        if filename not in self.lab.files:
            raise KeyError(f"lab {self.lab.id} has no student file {filename}")
        path = self.path(filename)
        if not path.exists():
            pytest.fail(f"{path.relative_to(REPO_ROOT)} is missing: run `python -m grader build`")
        name = f"_lab{self.lab.id}_{Path(filename).stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        # The stubs' `raise NotImplementedError(...)` finds this one first (globals before
        # builtins): it is the same exception, and it remembers being raised, so the failure can
        # name the TODO even when Sanic swallowed it inside a handler.
        module.NotImplementedError = TodoNotDone
        self.monkeypatch.setitem(sys.modules, name, module)  # dataclasses and pickle look it up
        problem = None
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            problem = _describe_import_failure(path, exc)
        if problem:  # failed outside the `except`, so no "during handling of ..." chain follows
            pytest.fail(problem, pytrace=False)
        self.loaded[filename] = module
        return module

    def reference_name(self, filename: str) -> str:
        """``db.py`` -> ``sanic_ms.db`` (the module the file rebuilds)."""
        return self.lab.files[filename].removesuffix(".py").replace("/", ".")

    def plug(self, filename: str) -> ModuleType:
        """Load the student's file and make the reference framework use it (see module doc)."""
        module = self.load(filename)
        reference = self.reference_name(filename)
        ref = importlib.import_module(reference)
        defined = {
            id(value): name
            for name, value in vars(ref).items()
            if getattr(value, "__module__", None) == reference
        }
        self.monkeypatch.setitem(sys.modules, reference, module)
        for mod_name, mod in list(sys.modules.items()):
            if mod is None or mod is module or not mod_name.startswith(PLUGGED_INTO):
                continue
            for attr, value in list(vars(mod).items()):
                if value is ref:
                    self.monkeypatch.setattr(mod, attr, module)
                elif id(value) in defined and hasattr(module, defined[id(value)]):
                    self.monkeypatch.setattr(mod, attr, getattr(module, defined[id(value)]))
        return module


# Modules whose names are re-pointed by ``Student.plug``: the framework, the examples, and the
# student's other files of the same lab (plug lab 02's responses.py before its middleware.py).
PLUGGED_INTO = ("sanic_ms", "examples", "_lab")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> manifest.Lab:
    found = lab_of(request.path)
    assert found is not None, f"{request.path} is not inside labs/NN/"
    return found


@pytest.fixture
def student(
    request: pytest.FixtureRequest, lab: manifest.Lab, monkeypatch: pytest.MonkeyPatch
) -> Student:
    solution = request.config.getoption("--solution")
    folder = lab.solution_folder if solution else lab.folder
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and PLANTED in callspec.params:
        folder = Path(request.config.getoption("--mutants")).resolve() / callspec.params[PLANTED]
    # A coroutine never awaited is reported when it is collected: collect now, so the report
    # belongs to this test and not to the next one.
    request.addfinalizer(_collect_garbage)
    return Student(lab, folder, monkeypatch)


def _collect_garbage() -> None:
    # pytest keeps the last failure's traceback (for pdb), and with it the student's frames.
    sys.last_type = sys.last_value = sys.last_traceback = None
    gc.collect(1)  # the young generations: a full collection costs a test 0.1-0.3 s


# --------------------------------------------------------------------------- planted mistakes

PLANTED = "_planted"  # the parameter naming the planted mistake a test runs against


def _planted(config: pytest.Config) -> dict[str, list[int]]:
    """``grader check``'s planted mistakes (``--mutants <folder>``): name -> the tasks to run.

    ``<folder>/index.json`` lists them; ``<folder>/<name>/`` holds the lab's files with that one
    mistake in them (see ``grader.mutants``).
    """
    folder = config.getoption("--mutants")
    if not folder:
        return {}
    import json

    return json.loads((Path(folder) / "index.json").read_text())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    planted = _planted(metafunc.config)
    if not planted or lab_of(metafunc.definition.path) is None:
        return
    marker = metafunc.definition.get_closest_marker("task")
    task = marker.args[0] if marker and marker.args else None
    names = [name for name, tasks in planted.items() if task in tasks]
    # Each test runs once per mistake planted in its task, and not against the solution itself.
    metafunc.fixturenames.append(PLANTED)
    metafunc.parametrize(PLANTED, names, ids=names)


@pytest.fixture(scope="session")
def database_url() -> Any:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    from grader import postgres

    with postgres.temporary_database("lab") as dsn:
        yield dsn


# --------------------------------------------------------------------------- serving an app


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any  # parsed JSON when the answer is JSON, else text

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.body!r}"


@dataclass
class Served:
    """An app listening on a loopback port, with a small HTTP client for the test."""

    url: str
    session: aiohttp.ClientSession
    app: Any

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self.session.request(method, self.url + path, **kwargs) as response:
            text = await response.text()
            try:
                body = await response.json(content_type=None) if text else None
            except ValueError:
                body = text
            return Reply(response.status, response.headers, body)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("POST", path, **kwargs)


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[Served]:
    from sanic_ms.serve import serve  # the framework's own in-loop server (listeners included)

    app.config.MOTD = False  # the banner imports sanic_testing, which warns at import
    async with serve(app) as url, aiohttp.ClientSession() as session:
        yield Served(url, session, app)


@pytest.fixture
def serve() -> Any:
    """``async with serve(app) as served: reply = await served.get("/users/1")``."""
    return _serve


# --------------------------------------------------------------------------- the loop watchdog


def _student_files() -> frozenset[str]:
    """Every file a student edits (labs/NN/<file>), its solution (solutions/NN/<file>) and, under
    ``grader check``, its copies with a planted mistake."""
    planted = [Path(MUTANTS_FOLDER) / name for name in PLANTED_NAMES] if MUTANTS_FOLDER else []
    return frozenset(
        str(folder / name)
        for lab in labs().values()
        for folder in (lab.folder, lab.solution_folder, *planted)
        for name in lab.files
    )


MUTANTS_FOLDER: str | None = None
PLANTED_NAMES: tuple[str, ...] = ()


def _is_student_frame(frame: FrameType) -> bool:
    return frame.f_code.co_filename in STUDENT_FILES


# Where the innermost running Python line may sit when the student's code blocks the loop: in the
# student's file itself (time.sleep and busy loops are C calls or plain code there), or in a
# synchronous I/O library it called. Async libraries (asyncpg, aiohttp, Sanic, ssl setup) are not
# blamed on the student: their short stalls are outside the lab.
BLOCKING_LIBRARIES = re.compile(
    r"/(psycopg2?|requests|urllib3|httpx|pymysql|sqlite3|urllib|http|socket|subprocess|queue|"
    r"threading|selectors|time)(/|\.py$)"
)


def _blocking(filename: str) -> bool:
    return filename in STUDENT_FILES or bool(BLOCKING_LIBRARIES.search(filename))


def _thread_cpu_clock(thread_id: int) -> int | None:
    try:
        return time.pthread_getcpuclockid(thread_id)
    except (AttributeError, OSError):
        return None


@dataclass
class Block:
    seconds: float
    where: str  # "labs/00/app.py line 31 in fetch_user: time.sleep(0.5)"


class LoopWatchdog:
    """A thread that notices when the event loop stops answering, and who was running then."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float = BLOCKING_LIMIT) -> None:
        self.loop = loop
        self.limit = limit
        self.loop_thread = threading.get_ident()  # made on the loop's thread (an async fixture)
        self._cpu_clock = _thread_cpu_clock(self.loop_thread)
        self._task_stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat")
        self.blocks: list[Block] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loop-watchdog", daemon=True)

    def start(self) -> None:
        self._ends = time.monotonic() + self.limit
        self._thread.start()

    def stop(self) -> list[Block]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
        return self.blocks

    def _student_line(self) -> str | None:
        """The student's line running now, if it is what holds the loop (see ``_blocking``)."""
        frame = sys._current_frames().get(self.loop_thread)
        if frame is None or not _blocking(frame.f_code.co_filename):
            return None
        while frame is not None:
            if _is_student_frame(frame):
                info = traceback.extract_stack(frame, limit=1)[-1]
                rel = Path(info.filename).relative_to(REPO_ROOT)
                return f"{rel} line {info.lineno} in {info.name}: {(info.line or '').strip()}"
            frame = frame.f_back
        return None

    def _cpu(self) -> float | None:
        return None if self._cpu_clock is None else time.clock_gettime(self._cpu_clock)

    def _waiting_in_the_kernel(self) -> bool:
        """Whether the loop's thread sleeps in a system call (time.sleep, a socket read)."""
        try:
            state = self._task_stat.read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return True  # cannot tell: trust the stack
        return state in {"S", "D"}

    def _run(self) -> None:
        while not self._stop.is_set():
            answered = threading.Event()
            sent, cpu_at_send = time.monotonic(), self._cpu()
            try:
                self.loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed
                return
            culprit, asleep = None, False
            while not answered.wait(PING_EVERY / 2):
                if culprit is None and time.monotonic() - sent > PING_EVERY:
                    culprit = self._student_line()
                    asleep = culprit is not None and self._waiting_in_the_kernel()
                if self._stop.is_set():
                    break
            waited = time.monotonic() - sent
            if culprit and waited >= self.limit and (asleep or self._busy(cpu_at_send, waited)):
                self.blocks.append(Block(waited, culprit))
            self._stop.wait(PING_EVERY)

    def _busy(self, cpu_at_send: float | None, waited: float) -> bool:
        """Whether the loop's thread computed for most of the wait (a busy loop), rather than
        waited for a core the machine had no time to give it (a loaded grader, not the student)."""
        cpu_now = self._cpu()
        if cpu_at_send is None or cpu_now is None:
            return True
        return cpu_now - cpu_at_send >= 0.5 * waited


def _student_task(task: asyncio.Task) -> str | None:
    """Where a pending task is, if its coroutine chain runs code from the student's file."""
    coro = task.get_coro()
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None and code.co_filename in STUDENT_FILES:
            rel = Path(code.co_filename).relative_to(REPO_ROOT)
            return f"{code.co_name} ({rel})"
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return None


def _created_by_student() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        if _is_student_frame(frame):
            rel = Path(frame.f_code.co_filename).relative_to(REPO_ROOT)
            return f"{rel} line {frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return None


@pytest.fixture
async def _loop_watchdog(request: pytest.FixtureRequest) -> AsyncIterator[LoopWatchdog]:
    global STUDENT_FILES
    STUDENT_FILES = _student_files()
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks(loop)
    started: dict[asyncio.Task, str] = {}  # tasks whose creation ran through the student's file

    def task_factory(loop, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop, **kwargs)
        if where := _created_by_student():
            started[task] = where
        return task

    previous_factory = loop.get_task_factory()
    loop.set_task_factory(task_factory)
    watchdog = LoopWatchdog(loop)
    request.node.stash[WATCHDOG] = watchdog
    watchdog.start()
    yield watchdog
    watchdog.stop()
    loop.set_task_factory(previous_factory)
    # Give tasks that are shutting down a moment, then look for the student's leftovers.
    for _ in range(5):
        await asyncio.sleep(0.01)
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks(loop) - before if t is not current and not t.done()]
    left = sorted({where for t in pending if (where := started.get(t) or _student_task(t))})
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1)
    if left:
        pytest.fail(
            "When the test ended, a task your code started was still running (started at "
            + "; ".join(left)
            + ").\nEvery task you start must finish, or be cancelled and awaited when the app "
            "stops (usually in an `after_server_stop` listener).",
            pytrace=False,
        )


WATCHDOG = pytest.StashKey[LoopWatchdog]()


# --------------------------------------------------------------------------- the phase guard

# The task of a lab that teaches giving a pool connection back (named when a close waits for one).
GIVE_BACK_TASK = {"01": 2}


def _chain(coro: Any) -> list[str]:
    """Where a coroutine (and what it awaits, down to the innermost one) is suspended."""
    frames = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        frame = frame or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            frames.append(f"{_rel(code.co_filename)}:{frame.f_lineno} in {code.co_name}")
        awaited = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "ag_await", None)
            or getattr(coro, "gi_yieldfrom", None)
        )
        if awaited is not None and not hasattr(awaited, "cr_frame") and frame is not None:
            # `async with` on an @asynccontextmanager awaits its generator through an object that
            # does not name it; the context manager (`self.gen`) does.
            owner = frame.f_locals.get("self")
            awaited = getattr(owner, "gen", None) or awaited
        coro = awaited
    return frames


def _rel(filename: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(filename).relative_to(REPO_ROOT))
    return filename


def _running_loop_of_main_thread() -> asyncio.AbstractEventLoop | None:
    """The event loop the main thread is running now (pytest-asyncio's, whichever test it is)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "run_forever" else None
        if isinstance(owner, asyncio.AbstractEventLoop):
            return owner
        frame = frame.f_back
    return None


class PhaseGuard:
    """Bounds one phase (setup, call, teardown) of a lab test; see the module doc."""

    def __init__(self, item: pytest.Item, when: str, limit: float) -> None:
        self.item, self.when, self.limit = item, when, limit
        self.expired = False
        self.waiting: list[list[str]] = []  # per task of the loop: where it waited, outermost first
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lab-guard-{when}", daemon=True)

    def start(self) -> None:
        self._ends = time.monotonic() + self.limit
        self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        if self._done.wait(self.limit):
            return
        self.expired = True
        loop = _running_loop_of_main_thread()
        # Cancel every task of the loop, again and again: cleanup code that catches the
        # cancellation (a server's shutdown, say) may await the very thing that hangs once more.
        deadline = time.monotonic() + GRACE
        while loop is not None and not loop.is_closed() and time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._cancel_tasks, loop)
            if self._done.wait(0.5):
                return
        if not self.waiting:
            frame = sys._current_frames().get(threading.main_thread().ident)
            if frame is not None:
                self.waiting = [
                    [
                        f"{_rel(f.filename)}:{f.lineno} in {f.name}"
                        for f in traceback.extract_stack(frame)
                    ]
                ]
        # pytest-timeout's backstop (LAB_TEST_TIMEOUT + 3 * GRACE) fails a synchronous wait in the
        # test itself more gently; it does not reach every phase (a failed test's teardown).
        if self._done.wait(max(GRACE, self._ends + 4 * GRACE - time.monotonic())):
            return
        # Nothing let go (an `except BaseException` that loops, a synchronous wait): end the run,
        # saying why, on the terminal pytest's capture would otherwise swallow.
        capture = self.item.config.pluginmanager.getplugin("capturemanager")
        with contextlib.suppress(Exception):
            capture.suspend_global_capture(in_=True)
        where = "\n".join(" <- ".join(chain) for chain in self.waiting)
        sys.stderr.write(
            f"\n{stuck_message(self, lab_of(self.item.path))}\n"
            f"Cancelling its tasks did not end it, so pytest stops here. It was waiting at:\n"
            f"{where}\n"
        )
        sys.stderr.flush()
        os._exit(3)

    def _cancel_tasks(self, loop: asyncio.AbstractEventLoop) -> None:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        # Where they waited the first time says why the phase hung; later passes, how it unwinds.
        self.waiting = self.waiting or [chain for t in tasks if (chain := _chain(t.get_coro()))]
        for task in tasks:
            task.cancel()


def _likely_cause(guard: PhaseGuard, lab: manifest.Lab | None) -> str:
    text = "\n".join(" <- ".join(chain) for chain in guard.waiting)
    closing = re.search(r"asyncpg/pool\.py:\d+ in (close|wait_until_released)", text)
    if closing or re.search(r"asyncpg/pool\.py:\d+ in _acquire", text):
        task = GIVE_BACK_TASK.get(lab.id) if lab else None
        where = f": task {task}" if task else ""
        what = (
            "closing the pool waited for it forever"
            if closing
            else "the next `acquire` waited for it forever"
        )
        return (
            f"The likely cause: a connection was never given back to the pool{where}. "
            f"{what[0].upper()}{what[1:]}. Give it back in a `finally:` "
            "(`await pool.release(conn)`: with `await`), so it returns even when the block raises."
        )
    student = [
        frame
        for chain in guard.waiting
        for frame in chain
        if any(frame.startswith(_rel(name) + ":") for name in STUDENT_FILES)
    ]
    if student:
        return f"It was waiting at {student[-1]} (your code)."
    longest = max(guard.waiting, key=len, default=[])
    return f"It was waiting at {longest[-1]}." if longest else ""


PHASE_WORDS = {
    "setup": "while its fixtures were set up",
    "call": "",
    "teardown": "while cleaning up after it (closing the pool, stopping the app)",
}


def stuck_message(guard: PhaseGuard, lab: manifest.Lab | None) -> str:
    task = _task_of(guard.item)
    words = PHASE_WORDS.get(guard.when, "")
    lines = [
        f"{guard.item.nodeid} did not finish within {guard.limit:g} s"
        + (f" {words}" if words else "")
        + ", so it was stopped.",
        _likely_cause(guard, lab)
        or (
            "Something waits forever: an `await` on something that never completes, a lock or a "
            "pool connection that is never given back, or a loop that never ends."
        ),
    ]
    if lab is not None and task is not None:
        lines.append(_checks_line(lab, task).rstrip())
        lines.append(_hint_line(lab, task))
    return "\n".join(line for line in lines if line)


GUARDS = pytest.StashKey[dict]()
LIMIT = pytest.StashKey[float]()  # seconds each phase of the test may take


def _limit(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    value = marker.args[0] if marker and marker.args else None
    return float(value) if value else float(LAB_TEST_TIMEOUT)


@contextlib.contextmanager
def _guarded(item: pytest.Item, when: str) -> Any:
    if lab_of(item.path) is None:
        yield
        return
    guard = PhaseGuard(item, when, item.stash.get(LIMIT, LAB_TEST_TIMEOUT))
    item.stash.setdefault(GUARDS, {})[when] = guard
    guard.start()
    try:
        yield
    finally:
        guard.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    RAISED_TODOS.clear()
    with _guarded(item, "setup"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    with _guarded(item, "call"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    with _guarded(item, "teardown"):
        try:
            return (yield)
        except BaseException:
            _drop_pending_unraisables(item.config)
            raise


def _drop_pending_unraisables(config: pytest.Config) -> None:
    """Forget what pytest would report as "exception ignored" at the next test's setup.

    pytest reports those at the end of a phase, unless the phase failed first: then they wait
    and fail the next test, which did nothing wrong. This test already failed for its own reason.
    """
    try:
        from _pytest.unraisableexception import unraisable_exceptions
    except ImportError:  # another pytest: nothing to do
        return
    pending = config.stash.get(unraisable_exceptions, None)
    if pending is not None:
        pending.clear()


# --------------------------------------------------------------------------- teaching messages

TODO = re.compile(r"TODO task (?P<task>\d+): (?P<todo>[^\"\\\n]*)")
STUDENT_LINE = re.compile(r"((?:labs|solutions)/\d\d/[\w./-]+\.py)\"?, line (\d+)")
STUDENT_LINE_SHORT = re.compile(r"((?:labs|solutions)/\d\d/[\w./-]+\.py):(\d+)")


def _location_of(text: str, position: int) -> str | None:
    """The student's file and line that raised the TODO found at ``position`` in ``text``.

    A Python traceback names the place before the message (``File "labs/01/db.py", line 82``);
    pytest's report after it (``labs/01/db.py:82: NotImplementedError``): take the nearest.
    """
    found = [
        (position - m.start(), m.group(1), m.group(2))
        for m in STUDENT_LINE.finditer(text, 0, position)
        if "/tests/" not in m.group(1)
    ] + [
        (m.start() - position, m.group(1), m.group(2))
        for m in STUDENT_LINE_SHORT.finditer(text, position)
        if "/tests/" not in m.group(1)
    ]
    if not found:
        return None
    _, path, line = min(found)
    return f"{path} line {line}"


def _task_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker("task")
    return marker.args[0] if marker and marker.args else None


def _hint_line(lab: manifest.Lab, task: int) -> str:
    return f"Stuck? `python -m grader hint {lab.id} {task}` prints a hint."


def _checks_line(lab: manifest.Lab, task: int) -> str:
    return (
        f'This test checks task {task}, "{lab.task(task).title}" '
        f'(labs/{lab.id}/README.md, "## {task}.").\n'
    )


def _explain(item: pytest.Item, lab: manifest.Lab, text: str) -> str | None:
    """A plain-English message for a failure a student cannot act on as is, or None."""
    task = _task_of(item)
    checks = _checks_line(lab, task) if task is not None else ""
    todos = list(TODO.finditer(text))
    if todos:
        # The TODO of the task under test if it is there, else the first one the test ran into.
        match = next((m for m in todos if int(m["task"]) == task), todos[0])
        todo_task = int(match["task"])
        todo = match["todo"].strip().removesuffix("')")
        where = _location_of(text, match.start()) or f"your file in labs/{lab.id}"
        first = (
            f"Task {todo_task} is not done yet: {where} still raises\n"
            f'    NotImplementedError("TODO task {todo_task}: {todo}")\n'
        )
        if task is not None and todo_task != task:
            first += f"This test checks task {task}, which needs task {todo_task} first.\n"
            return first + _hint_line(lab, todo_task)
        return first + checks + _hint_line(lab, task or todo_task)
    if "Timeout (>" in text and "pytest-timeout" in text:
        return (
            f"This test did not finish within {LAB_TEST_TIMEOUT:g} s, so it was stopped.\n"
            "Something waits forever: an `await` on something that never completes, a lock or a "
            "pool connection that is never given back, or a loop that never ends.\n"
            + checks
            + (_hint_line(lab, task) if task else "")
        )
    if "was never awaited" in text or re.search(r"Exception ignored in: <coroutine object", text):
        name = re.search(r"coroutine (?:object )?'?([\w.<>]+)", text.split("never awaited")[0])
        what = f"`{name.group(1)}`" if name else "an async function"
        return (
            f"A coroutine was created and never awaited: {what} was called without `await`, "
            "so its body never ran.\nPut `await` in front of the call (or pass the coroutine to "
            "`asyncio.gather` / `create_task` and await that).\n"
            + checks
            + (_hint_line(lab, task) if task else "")
        )
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    lab = lab_of(item.path)
    if lab is None:
        return report
    watchdog = item.stash.get(WATCHDOG, None)
    # The TODOs recorded as raised come first: they say exactly which stub ran, and where.
    text = "\n".join([*RAISED_TODOS, str(report.longrepr), *(c for _, c in report.sections)])
    if call.when == "call" and watchdog is not None:
        blocks = watchdog.stop()
        # An unfinished task (a TODO) explains the failure better than what it led to.
        if blocks and report.outcome != "skipped" and not (report.failed and TODO.search(text)):
            worst = max(blocks, key=lambda b: b.seconds)
            task = _task_of(item)
            report.outcome = "failed"
            report.longrepr = (
                f"Your code blocked the event loop for {worst.seconds:.2f} s at\n"
                f"    {worst.where}\n"
                "While it ran, the server could not answer anyone else. In async code, wait with "
                "`await` (`await asyncio.sleep(...)`, an async driver such as asyncpg, an async "
                "client such as aiohttp) instead of a call that makes the whole process wait.\n"
                + (_hint_line(lab, task) if task else "")
            )
            return report
    guard = item.stash.get(GUARDS, {}).get(call.when)
    if report.failed and guard is not None and guard.expired:
        report.longrepr = stuck_message(guard, lab)
    elif report.failed:
        if message := _explain(item, lab, text):
            report.longrepr = message
        elif (task := _task_of(item)) is not None and task in {t.number for t in lab.tasks}:
            # Every failure says which task it checks, as the README numbers them.
            report.longrepr = (
                f"{report.longrepr}\n\n{_checks_line(lab, task)}{_hint_line(lab, task)}"
            )
    return report
