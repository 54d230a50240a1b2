"""No lab command hangs on a student's mistake: a copy of lab 01 with a leaked pool connection, or
with a ``close()`` that never returns, finishes ``pytest labs/01`` in bounded time, naming the cause
in the lab's words (the guard of ``labs/conftest.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from grader import manifest, mutants

REPO = Path(__file__).resolve().parents[3]
LAB = manifest.load()["01"]


def planted(tmp_path: Path, find: str, replace: str) -> Path:
    """A copy of the repository's labs whose labs/01 holds the solution with one mistake."""
    template = mutants.template(REPO, tmp_path / "template")
    mistake = manifest.Mutation("planted", 2, "db.py", find, replace)
    workspace = mutants.workspace(template, LAB, mistake, tmp_path / "repo")
    assert workspace is not None, f"{find!r} is not in solutions/01/db.py once"
    return workspace


def pytest_labs_01(
    workspace: Path, *args: str, target: str = "labs/01", **env: str
) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", *args],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=180,  # far above the guard's limits: reaching it means the lab hung
        env={**os.environ, **env},
    )
    return done, time.monotonic() - started


def test_a_connection_never_given_back_fails_lab_01_naming_the_cause(tmp_path):
    never_released = next(m for m in LAB.mutations if m.name == "never_released")
    workspace = planted(tmp_path, never_released.find, never_released.replace)
    done, seconds = pytest_labs_01(workspace)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "a connection was never given back to the pool: task 2" in done.stdout, output
    # The leak test explains itself instead of letting the 503 escape pytest.raises.
    assert "Attempt 3 of 6 to borrow a connection answered 503" in done.stdout, output
    assert "passed" in done.stdout.splitlines()[-1], "task 1 and 3 tests still ran: " + output
    assert seconds < 120, f"pytest labs/01 took {seconds:.0f} s"


def test_a_teardown_that_never_ends_is_stopped_naming_the_wait(tmp_path):
    # close() waits for ever (a student's pool.close() waiting for a leaked connection does).
    workspace = planted(
        tmp_path,
        "                await pool.close()\n",
        "                await pool.close()\n"
        "                await __import__('asyncio').Event().wait()\n",
    )
    done, seconds = pytest_labs_01(workspace, "-k", "empty_pool", LAB_TEST_TIMEOUT="3")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "did not finish within 3 s" in done.stdout, output
    assert "labs/01/db.py" in done.stdout and "in close" in done.stdout, (
        "the message should say where it waited: " + output
    )
    assert seconds < 60, f"pytest labs/01 took {seconds:.0f} s"


def test_a_failed_test_whose_teardown_hangs_is_still_stopped(tmp_path):
    # pytest-timeout 2.4.0 never stops the teardown of a test that already failed (its #196).
    workspace = planted(
        tmp_path,
        "                await pool.close()\n",
        "                await pool.close()\n"
        "                await __import__('asyncio').Event().wait()\n",
    )
    fails_first = workspace / "labs/01/tests/test_fails_then_hangs.py"
    fails_first.write_text(
        "import pytest\n\n\n"
        "@pytest.fixture\n"
        "async def app_db(student, database_url):\n"
        '    db = student.load("db.py").Database(database_url, min_size=1, max_size=1)\n'
        "    await db.connect()\n"
        "    yield db\n"
        "    await db.close()  # never returns\n\n\n"
        "@pytest.mark.task(2)\n"
        "async def test_fails(app_db):\n"
        '    assert False, "this test fails before its teardown hangs"\n'
    )
    done, seconds = pytest_labs_01(
        workspace, target="labs/01/tests/test_fails_then_hangs.py", LAB_TEST_TIMEOUT="3"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "this test fails before its teardown hangs" in done.stdout, output
    assert "while cleaning up after it" in done.stdout, output
    assert seconds < 60, f"pytest took {seconds:.0f} s"
