"""A copy of the repository whose starters and solutions are freshly generated from their sources.

``grader check`` (and ``tests/grader/test_labs.py``) test the starters and solutions on such a copy, not
on ``labs/NN`` as it is: in a student's clone those files hold the student's work, and "the
starter already passes" would then be the student's success, not a broken lab. Whether the
committed generated files drifted from their sources is a separate question (``drift``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader import manifest
from grader.grading import workspace


def fresh_copy(dest: Path, root: Path = manifest.REPO_ROOT) -> Path:
    """Copy the repository's files to ``dest`` and write every generated file there anew."""
    from grader import build

    dest.mkdir(parents=True, exist_ok=True)
    for rel in workspace.tracked(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, target)
    for path, text in build.expected_files().items():
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return dest


@dataclass(frozen=True)
class Drift:
    """A committed generated file that is not what ``python -m grader build`` writes."""

    path: str  # relative to the repository
    editable: bool  # a file of labs/NN the student edits (their work, or a stale build)

    def __str__(self) -> str:
        return f"{self.path}: differs from its source (run `python -m grader build`)"


def drift(root: Path = manifest.REPO_ROOT) -> list[Drift]:
    """Every generated file that is missing or differs from what its source generates now."""
    from grader import build

    found = []
    for path, text in build.expected_files().items():
        if path.exists() and path.read_text() == text:
            continue
        rel = path.relative_to(root)
        found.append(Drift(rel.as_posix(), rel.parts[0] == "labs" and path.exists()))
    return found


def strict() -> bool:
    """Whether drift in the student's files fails the check: in CI (``CI`` set), not locally."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
