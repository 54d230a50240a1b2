"""Failure messages a student can act on: each names the task, the README section and the hint.

``pytest_runtest_makereport`` rewrites the raw failures a student cannot act on: a
``NotImplementedError("TODO task N: ...")`` from a starter stub (also when Sanic caught it inside a
handler and only the log shows it), a timeout, a never-awaited coroutine, a blocked event loop, a
phase the guard stopped. Every other failure of a lab test gets the same closing lines, so each one
says which task it checks.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from grader import manifest
from grader.labplugin.context import LAB_TEST_TIMEOUT, checks_line, hint_line, lab_of, task_of
from grader.labplugin.guard import GUARDS, stuck_message
from grader.labplugin.student import RAISED_TODOS
from grader.labplugin.watchdog import WATCHDOG

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


def _explain(item: pytest.Item, lab: manifest.Lab, text: str) -> str | None:
    """A plain-English message for a failure a student cannot act on as is, or None."""
    task = task_of(item)
    checks = checks_line(lab, task) if task is not None else ""
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
            return first + hint_line(lab, todo_task)
        return first + checks + hint_line(lab, task or todo_task)
    if "Timeout (>" in text and "pytest-timeout" in text:
        return (
            f"This test did not finish within {LAB_TEST_TIMEOUT:g} s, so it was stopped.\n"
            "Something waits forever: an `await` on something that never completes, a lock or a "
            "pool connection that is never given back, or a loop that never ends.\n"
            + checks
            + (hint_line(lab, task) if task else "")
        )
    if "was never awaited" in text or re.search(r"Exception ignored in: <coroutine object", text):
        name = re.search(r"coroutine (?:object )?'?([\w.<>]+)", text.split("never awaited")[0])
        what = f"`{name.group(1)}`" if name else "an async function"
        return (
            f"A coroutine was created and never awaited: {what} was called without `await`, "
            "so its body never ran.\nPut `await` in front of the call (or pass the coroutine to "
            "`asyncio.gather` / `create_task` and await that).\n"
            + checks
            + (hint_line(lab, task) if task else "")
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
            task = task_of(item)
            report.outcome = "failed"
            report.longrepr = (
                f"Your code blocked the event loop for {worst.seconds:.2f} s at\n"
                f"    {worst.where}\n"
                "While it ran, the server could not answer anyone else. In async code, wait with "
                "`await` (`await asyncio.sleep(...)`, an async driver such as asyncpg, an async "
                "client such as aiohttp) instead of a call that makes the whole process wait.\n"
                + (hint_line(lab, task) if task else "")
            )
            return report
    guard = item.stash.get(GUARDS, {}).get(call.when)
    if report.failed and guard is not None and guard.expired:
        report.longrepr = stuck_message(guard, lab)
    elif report.failed:
        if message := _explain(item, lab, text):
            report.longrepr = message
        elif (task := task_of(item)) is not None and task in {t.number for t in lab.tasks}:
            # Every failure says which task it checks, as the README numbers them.
            report.longrepr = f"{report.longrepr}\n\n{checks_line(lab, task)}{hint_line(lab, task)}"
    return report
