"""What every part of the lab plugin looks up: a test's lab and task, the student's files, limits."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import FrameType

import pytest

from grader import manifest

REPO_ROOT = manifest.REPO_ROOT
LABS_DIR = REPO_ROOT / "labs"
# Seconds per test. A lab's whole suite takes a few seconds; the margin is for a loaded machine
# (the first test of a session also creates the database).
LAB_TEST_TIMEOUT = float(os.environ.get("LAB_TEST_TIMEOUT", 20))
GRACE = 5  # seconds a stuck phase gets, after its tasks were cancelled, before harsher steps
PLANTED = "_planted"  # the parameter naming the planted mistake a test runs against

# Set by ``pytest_configure`` under ``grader check --mutants <folder>``: the planted mistakes.
MUTANTS_FOLDER: str | None = None
PLANTED_NAMES: tuple[str, ...] = ()
# Set by the loop watchdog when an async lab test starts (see ``student_files``).
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


def task_of(item: pytest.Item) -> int | None:
    marker = item.get_closest_marker("task")
    return marker.args[0] if marker and marker.args else None


def hint_line(lab: manifest.Lab, task: int) -> str:
    return f"Stuck? `python -m grader hint {lab.id} {task}` prints a hint."


def checks_line(lab: manifest.Lab, task: int) -> str:
    return (
        f'This test checks task {task}, "{lab.task(task).title}" '
        f'(labs/{lab.id}/README.md, "## {task}.").\n'
    )


def student_files() -> frozenset[str]:
    """Every file a student edits (labs/NN/<file>), its solution (solutions/NN/<file>) and, under
    ``grader check``, its copies with a planted mistake."""
    planted = [Path(MUTANTS_FOLDER) / name for name in PLANTED_NAMES] if MUTANTS_FOLDER else []
    return frozenset(
        str(folder / name)
        for lab in labs().values()
        for folder in (lab.folder, lab.solution_folder, *planted)
        for name in lab.files
    )


def is_student_file(filename: str) -> bool:
    return filename in STUDENT_FILES


def is_student_frame(frame: FrameType) -> bool:
    return frame.f_code.co_filename in STUDENT_FILES


def rel(filename: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(filename).relative_to(REPO_ROOT))
    return filename
