"""Run pytest on lab folders in a child process, bounded in time; what each task's tests did.

The one runner behind the student's commands (``grader status``, ``grader watch``), the notebooks'
"your turn" cell (``grader.notebook.lab``) and ``tests/grader/test_labs.py``::

    result = labrun.run(["labs/01"], limit=120)      # or: await labrun.run_async(...)
    result.tests        # {nodeid: {"lab", "task", "outcome", "message"}}
    result.timed_out    # stopped at the time limit; result.problem says so, naming the lab

The child loads this module as a pytest plugin (``-p grader.labrun``), which writes every test's
task and outcome to the file named by ``GRADER_TASK_RESULTS`` after each report, so a run stopped
at its time limit still tells which tests finished and which one was running (a test that never
finished is "not run", the one running "failed"). A task passes when all its tests pass in every
phase (setup, call, teardown); a skipped test passes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grader import manifest

REPO_ROOT = manifest.REPO_ROOT
RESULTS_ENV = "GRADER_TASK_RESULTS"  # the file the plugin below writes its results to
TIMEOUT = 120.0  # seconds for one lab's tests: a lab takes a few seconds, a loaded machine more
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL when a run is stopped


# --------------------------------------------------------------------------- in the child


class TaskResults:
    """A pytest plugin: records, for each test of a lab, its task and whether it passed."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tests: dict[str, dict] = {}
        self.running: str | None = None

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            marker = item.get_closest_marker("task")
            try:
                rel = Path(str(item.path)).resolve().relative_to(Path.cwd().resolve())
            except ValueError:
                continue
            if len(rel.parts) < 2 or rel.parts[0] not in ("labs", "solutions"):
                continue
            self.tests[item.nodeid] = {
                "lab": rel.parts[1],
                "task": marker.args[0] if marker and marker.args else None,
                "outcome": "not run",  # until its teardown: a run stopped early passes nothing
                "message": "",
            }
        self._write()

    def pytest_runtest_logstart(self, nodeid, location) -> None:
        self.running = nodeid
        self._write()

    def pytest_runtest_logreport(self, report) -> None:
        test = self.tests.get(report.nodeid)
        if test is None:
            return
        if report.failed or report.skipped:
            if test["outcome"] in ("not run", "passed"):
                test["outcome"] = "failed" if report.failed else "skipped"
                test["message"] = str(report.longrepr)[-2000:]
        elif report.when == "call" and not report.passed:
            test["outcome"] = "failed"
        if report.when == "teardown":
            if test["outcome"] == "not run":
                test["outcome"] = "passed"
            self.running = None
        self._write()

    def pytest_sessionfinish(self, session) -> None:
        self.running = None
        self._write(finished=True)

    def _write(self, finished: bool = False) -> None:
        # Written whole to a new file, then renamed: a reader never sees half a document.
        record = {"tests": self.tests, "running": self.running, "finished": finished}
        partial = self.out.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        partial.replace(self.out)


def pytest_configure(config) -> None:
    """Loaded with ``-p grader.labrun``: record task results when the runner asked for them."""
    if out := os.environ.get(RESULTS_ENV):
        config.pluginmanager.register(TaskResults(Path(out)), "grader-task-results")


# --------------------------------------------------------------------------- in the parent


@dataclass
class LabRun:
    """What one bounded ``pytest`` run of lab folders did."""

    paths: list[str]
    tests: dict[str, dict] = field(default_factory=dict)
    output: str = ""  # the child's stdout and stderr, when captured
    returncode: int | None = None
    seconds: float = 0.0
    timeout: float = TIMEOUT
    timed_out: bool = False
    running: str | None = None  # the test running when the run was stopped

    @property
    def where(self) -> str:
        return " ".join(self.paths)

    @property
    def labs(self) -> str:
        """``lab 01`` or ``labs 01, 03``: the labs this run tested, for messages."""
        ids = sorted({Path(p).name for p in self.paths if Path(p).name.isdigit()})
        if len(ids) == 1:
            return f"lab {ids[0]}"
        return f"labs {', '.join(ids)}" if ids else "the labs"

    @property
    def problem(self) -> str:
        """Why the run gave no complete answer ("" when it finished)."""
        if self.timed_out:
            running = f" while {self.running} was running" if self.running else ""
            return (
                f"pytest {self.where} did not finish within {self.timeout:.0f} s and was "
                f"stopped{running}. Something in {self.labs} waits forever: a connection never "
                "given back to the pool, an `await` on something that never completes, or a loop "
                "that never ends."
            )
        if not self.tests and self.returncode not in (None, 0):
            last = self.output.strip().splitlines()[-1:] or [""]
            return f"pytest {self.where} ran no test (exit status {self.returncode}): {last[0]}"
        return ""

    @property
    def summary(self) -> str:
        """pytest's last line ("3 failed in 2.10s"), or what went wrong instead."""
        if self.problem:
            return self.problem
        last = self.output.strip().splitlines()[-1:] or [f"pytest exited {self.returncode}"]
        return last[0].strip("= ")


def _kill_group(process: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's whole process group, SIGKILL it if it is still there after a grace."""
    _kill_group(process, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE)
    except TimeoutError:
        _kill_group(process, signal.SIGKILL)
        await process.wait()


async def run_async(
    paths: list[str],
    *,
    solution: bool = False,
    limit: float = TIMEOUT,
    capture: bool = True,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> LabRun:
    """Run ``pytest PATHS`` in ``cwd`` in a child process; stop it after ``limit`` seconds.

    ``capture=False`` lets the child print to this terminal (``watch``); otherwise its output is
    kept in ``LabRun.output``. Cancelling the call (Ctrl-C) stops the child too.
    """
    result = LabRun(list(paths), timeout=limit)
    with tempfile.TemporaryDirectory(prefix="labrun-") as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "pytest", *paths, "-q", "-p", "grader.labrun"]
        command += ["-p", "no:cacheprovider", *(["--solution"] if solution else []), *args]
        child_env = {**(os.environ if env is None else env), RESULTS_ENV: str(out)}
        child_env.pop("PYTEST_CURRENT_TEST", None)  # when the caller runs under pytest itself
        if capture:
            child_env["PY_COLORS"] = "0"  # plain text, whatever the terminal asks for
        pipe = asyncio.subprocess.PIPE if capture else None
        began = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=child_env,
            stdout=pipe,
            stderr=asyncio.subprocess.STDOUT if capture else None,
            start_new_session=True,  # its own process group: stopped as a whole, servers included
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), limit)
        except TimeoutError:
            result.timed_out = True
            output = b""
        finally:
            if process.returncode is None:
                await _stop(process)
        result.seconds = time.perf_counter() - began
        result.returncode = process.returncode
        result.output = (output or b"").decode(errors="replace")
        if out.exists():
            record = json.loads(out.read_text())
            result.tests = record["tests"]
            result.running = record["running"]
        if result.timed_out and result.running in result.tests:
            result.tests[result.running].update(outcome="failed", message=result.problem)
    return result


def run(paths: list[str], **kwargs) -> LabRun:
    """:func:`run_async` from synchronous code (the command line)."""
    return asyncio.run(run_async(paths, **kwargs))


def by_task(tests: dict[str, dict]) -> dict[str, dict[int, list[str]]]:
    """{lab: {task: [outcome of each of its tests]}}."""
    found: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for test in tests.values():
        found[test["lab"]][test["task"]].append(test["outcome"])
    return found
