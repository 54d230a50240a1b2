"""The loop watchdog: an async lab test fails when the student's code blocks the event loop.

A thread pings the test's event loop every 20 ms. When the loop stays silent for longer than
``BLOCKING_LIMIT`` and the loop thread's stack shows a line of the student's file, the test fails
with that line and how long the loop was stuck. A task the student's code started and left running
when the test ended fails the test as well.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from grader.labplugin import context
from grader.labplugin.context import (
    REPO_ROOT,
    is_student_file,
    is_student_frame,
    student_files,
)

BLOCKING_LIMIT = 0.1  # seconds; asyncio's own slow-callback threshold in debug mode
PING_EVERY = 0.02

# Where the innermost running Python line may sit when the student's code blocks the loop: in the
# student's file itself (time.sleep and busy loops are C calls or plain code there), or in a
# synchronous I/O library it called. Async libraries (asyncpg, aiohttp, Sanic, ssl setup) are not
# blamed on the student: their short stalls are outside the lab.
BLOCKING_LIBRARIES = re.compile(
    r"/(psycopg2?|requests|urllib3|httpx|pymysql|sqlite3|urllib|http|socket|subprocess|queue|"
    r"threading|selectors|time)(/|\.py$)"
)


def _blocking(filename: str) -> bool:
    return is_student_file(filename) or bool(BLOCKING_LIBRARIES.search(filename))


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
            if is_student_frame(frame):
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


def _student_task(task: asyncio.Task[Any]) -> str | None:
    """Where a pending task is, if its coroutine chain runs code from the student's file."""
    coro: Any = task.get_coro()
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None and is_student_file(code.co_filename):
            rel = Path(code.co_filename).relative_to(REPO_ROOT)
            return f"{code.co_name} ({rel})"
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return None


def _created_by_student() -> str | None:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if is_student_frame(frame):
            rel = Path(frame.f_code.co_filename).relative_to(REPO_ROOT)
            return f"{rel} line {frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return None


@pytest.fixture
async def _loop_watchdog(request: pytest.FixtureRequest) -> AsyncIterator[LoopWatchdog]:
    context.STUDENT_FILES = student_files()
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks(loop)
    started: dict[
        asyncio.Task[Any], str
    ] = {}  # tasks whose creation ran through the student's file

    def task_factory(
        loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
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
