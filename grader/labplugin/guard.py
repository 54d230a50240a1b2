"""The phase guard: no phase of a lab test (setup, call, teardown) hangs a lab command.

Every phase runs under a ``PhaseGuard``: after its limit the guard cancels every task of the test's
loop, repeatedly for ``GRACE`` seconds (asyncpg, for one, then terminates a pool whose ``close()``
waits for a connection nobody gives back); a phase still stuck after that (a synchronous wait) ends
the process, saying why on the terminal. pytest-timeout alone is not enough: 2.4.0 never times out
the teardown of a test that already failed. The failure names the likely cause in the lab's words
(``a connection was never given back to the pool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from grader import manifest
from grader.labplugin import context
from grader.labplugin.context import (
    GRACE,
    LAB_TEST_TIMEOUT,
    checks_line,
    hint_line,
    lab_of,
    rel,
    task_of,
)
from grader.labplugin.student import RAISED_TODOS

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
            frames.append(f"{rel(code.co_filename)}:{frame.f_lineno} in {code.co_name}")
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


def _main_thread_frame() -> FrameType | None:
    """Where the main thread (pytest's, running the test) is now."""
    return sys._current_frames().get(threading.main_thread().ident or 0)


def _running_loop_of_main_thread() -> asyncio.AbstractEventLoop | None:
    """The event loop the main thread is running now (pytest-asyncio's, whichever test it is)."""
    frame = _main_thread_frame()
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
            frame = _main_thread_frame()
            if frame is not None:
                self.waiting = [
                    [
                        f"{rel(f.filename)}:{f.lineno} in {f.name}"
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
        if any(frame.startswith(rel(name) + ":") for name in context.STUDENT_FILES)
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
    task = task_of(guard.item)
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
        lines.append(checks_line(lab, task).rstrip())
        lines.append(hint_line(lab, task))
    return "\n".join(line for line in lines if line)


GUARDS = pytest.StashKey[dict[str, PhaseGuard]]()
LIMIT = pytest.StashKey[float]()  # seconds each phase of the test may take


def limit_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    value = marker.args[0] if marker and marker.args else None
    return float(value) if value else float(LAB_TEST_TIMEOUT)


@contextlib.contextmanager
def _guarded(item: pytest.Item, when: str) -> Iterator[None]:
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
