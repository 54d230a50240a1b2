"""The student's commands: hint levels, bounded runs, the virtualenv, check in a solved clone."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import fresh, labrun, manifest, student
from grader.grading import workspace

REPO = manifest.REPO_ROOT
SYSTEM_PYTHON = shutil.which("python3.11", path="/usr/bin:/bin")
OUTSIDE = {
    k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS")
}
OUTSIDE["PATH"] = "/usr/bin:/bin"  # a shell without the virtualenv on its PATH


# --------------------------------------------------------------------------- hints


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_task_has_three_hint_levels_that_grow():
    for lab in manifest.load().values():
        for task in lab.tasks:
            assert len(task.hints) == 3, f"lab {lab.id} task {task.number}: idea, API, shape"
            assert all(level.strip() for level in task.hints)
            assert "```" in task.hints[2], f"lab {lab.id} task {task.number}: shape has code"


def test_hint_levels_open_one_at_a_time_and_are_remembered(tmp_path, monkeypatch):
    monkeypatch.setattr(student, "HINTS_OPENED", tmp_path / "hints.json")
    task = manifest.load()["03"].task(2)
    idea, api, shape = (_flat(level) for level in task.hints)
    first = _flat(student.hint("03", 2))
    assert idea in first and api not in first
    assert "grader hint 03 2 --more` shows the API to use" in first
    second = _flat(student.hint("3", 2, more=True))
    assert api in second and shape not in second
    third = _flat(student.hint("03", 2, more=True))
    assert shape in third and "--more" not in third
    assert student.opened_levels(student.HINTS_OPENED) == {"03": {"2": 3}}
    student.hint("03", 2, level=1)  # looking back does not close levels
    assert student.opened_levels(student.HINTS_OPENED) == {"03": {"2": 3}}
    with pytest.raises(KeyError, match="has hint levels 1 to 3"):
        student.hint("03", 2, level=4)
    with pytest.raises(KeyError, match="its tasks: 1, 2, 3, 4"):
        student.hint("03", 9)


def test_status_shows_the_hint_levels_opened_per_task():
    rows = [
        {
            "lab": "03",
            "title": "Tracing",
            "tasks_passed": 1,
            "tasks": 4,
            "points": 3,
            "possible": 10,
            "hints": {1: 0, 2: 3, 3: 1, 4: 0},
            "problem": "",
        }
    ]
    table = student.format_status(rows)
    assert "hints opened" in table.splitlines()[0]
    assert table.splitlines()[1].endswith("2:3 3:1")


# --------------------------------------------------------------------------- bounded runs


def _hanging_lab(root: Path) -> Path:
    tests = root / "labs" / "99" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_hang.py").write_text(
        "import time\n\n\ndef test_quick():\n    pass\n\n\n"
        "def test_waits_forever():\n    time.sleep(3600)\n"
    )
    return root


@pytest.mark.timeout(90)
def test_a_run_that_hangs_is_stopped_and_names_the_lab_and_the_test(tmp_path):
    root = _hanging_lab(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    began = time.monotonic()
    # 20 s: enough for pytest to start on a loaded machine, then the hanging test is stopped
    result = asyncio.run(labrun.run_async(["labs/99"], limit=20, cwd=root, env=env))
    assert time.monotonic() - began < 20 + labrun.STOP_GRACE + 10
    assert result.timed_out
    assert "labs/99/tests/test_hang.py::test_waits_forever" in result.problem
    assert "did not finish within 20 s" in result.problem and "lab 99" in result.problem
    outcomes = {nodeid.rpartition("::")[2]: t["outcome"] for nodeid, t in result.tests.items()}
    assert outcomes == {"test_quick": "passed", "test_waits_forever": "failed"}


def _copy_with_leaked_connection(tmp_path: Path) -> Path:
    """A fresh copy of the repo whose labs/01/db.py never gives a connection back."""
    copy = fresh.fresh_copy(tmp_path / "repo")
    leaky = (REPO / "solutions" / "01" / "db.py").read_text()
    release = "await pool.release(conn, timeout=self.command_timeout)"
    assert release in leaky, "the planted leak no longer applies"
    (copy / "labs" / "01" / "db.py").write_text(leaky.replace(release, "pass  # never given back"))
    return copy


@pytest.mark.timeout(240)
def test_status_finishes_and_names_the_lab_when_a_connection_leaks(tmp_path):
    copy = _copy_with_leaked_connection(tmp_path)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "grader", "status", "--labs", "01", "--timeout", "40"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert time.monotonic() - began < 120
    assert "01   Connection pool" in done.stdout, done.stdout + done.stderr
    # Either the lab's own guard names the leak (a failed task), or the run's bound stops it.
    row = next(line for line in done.stdout.splitlines() if line.startswith("01 "))
    assert "/3" in row and not row.split()[-3].startswith("3/"), row


@pytest.mark.timeout(240)
def test_the_notebook_cell_finishes_and_names_the_task_when_a_connection_leaks(tmp_path):
    copy = _copy_with_leaked_connection(tmp_path)
    cell = (  # what notebook 01's "your turn" cell runs
        "import asyncio\n"
        "from grader import notebook as nb\n"
        "progress = asyncio.run(nb.lab('01', display=False, limit=60))\n"
        "print([(t.number, t.passed, t.tests, t.first_failure[:300]) for t in progress.tasks])\n"
        "print(progress.summary)\n"
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", cell], cwd=copy, capture_output=True, text=True, timeout=200
    )
    assert time.monotonic() - began < 120, "the cell must be bounded"
    assert done.returncode == 0, done.stdout + done.stderr
    tasks = ast.literal_eval(
        done.stdout.splitlines()[0]
    )  # [(number, passed, tests, first failure), ...]
    by_number = {number: (passed, total) for number, passed, total, _ in tasks}
    assert by_number[2][0] < by_number[2][1], f"task 2 (the leak) must not pass: {tasks}"
    failure = next(text for number, _, _, text in tasks if number == 2)
    assert "never given back" in failure, failure


# --------------------------------------------------------------------------- outside the venv


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no python3.11 outside the virtualenv")
def test_grader_typed_outside_the_venv_reruns_inside_it():
    done = subprocess.run(
        [SYSTEM_PYTHON, "-m", "grader", "hint", "01", "1", "--level", "1"],
        cwd=REPO,
        env=OUTSIDE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "using .venv/bin/python" in done.stderr
    assert manifest.load()["01"].task(1).hints[0][:40] in done.stdout.replace("\n", " ")


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no python3.11 outside the virtualenv")
@pytest.mark.timeout(120)
def test_status_typed_outside_the_venv_counts_solved_work():
    done = subprocess.run(
        [SYSTEM_PYTHON, "-m", "grader", "status", "--labs", "04", "--solution"],
        cwd=REPO,
        env=OUTSIDE,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("04 "))
    assert " 3/3 " in row, row


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no python3.11 outside the virtualenv")
def test_without_a_venv_the_commands_say_how_in_one_line(tmp_path):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path;"
        "from grader import venv; venv.ensure(['-m', 'grader'], 'python -m grader', "
        "venv=Path(sys.argv[2]))"
    )
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", code, str(REPO), str(tmp_path / "no-venv")],
        env=OUTSIDE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "make setup" in lines[0] and "source .venv/bin/activate" in lines[0]


def _pytest_outside_the_venv() -> list[str] | None:
    """A ``pytest`` another Python runs (pyenv's, the system's), or None."""
    for candidate in ("pytest", "py.test"):
        found = shutil.which(candidate, path=os.environ.get("PATH", "").replace(
            str(REPO / ".venv" / "bin"), ""
        ))  # fmt: skip
        if found and not Path(found).resolve().is_relative_to(REPO):
            return [found]
    return None


@pytest.mark.timeout(120)
def test_pytest_typed_outside_the_venv_runs_the_lab_inside_it():
    command = _pytest_outside_the_venv()
    if command is None:
        pytest.skip("no pytest outside the virtualenv")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS")}
    env["PATH"] = env.get("PATH", "").replace(str(REPO / ".venv" / "bin"), "")
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(
        [*command, "labs/04", "--solution", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert "Error importing plugin" not in done.stderr + done.stdout
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


# --------------------------------------------------------------------------- a student's clone


@pytest.mark.timeout(600)
def test_check_passes_in_a_clone_whose_lab_is_solved_and_ci_names_the_edit(tmp_path):
    copy = tmp_path / "repo"
    copy.mkdir()
    for rel in workspace.tracked(REPO):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / rel, copy / rel)
    shutil.copyfile(copy / "solutions" / "01" / "db.py", copy / "labs" / "01" / "db.py")
    command = [sys.executable, "-m", "grader", "check", "--lab", "01", "--jobs", "2"]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    local = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=500)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "edited, so not compared" in local.stdout and "labs/01/db.py" in local.stdout
    assert "passes before any work is done" not in local.stdout
    strict = fresh.drift(REPO)  # this repository itself has not drifted
    assert not strict, strict
    (copy / "solutions" / "01" / "db.py").write_text("# drifted\n")
    ci = subprocess.run(
        [*command[:3], "check", "--lab", "01", "--strict-drift", "--jobs", "2"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert ci.returncode == 1
    assert "PROBLEM: labs/01/db.py: differs from its source" in ci.stdout
    assert "PROBLEM: solutions/01/db.py: differs from its source" in ci.stdout
