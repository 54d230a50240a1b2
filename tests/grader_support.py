"""Build the grader tests' inputs: the fixture lab repository and the synthetic submissions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GRADELAB = FIXTURES / "gradelab"
SUBMISSIONS = FIXTURES / "submissions"
REPO = Path(__file__).resolve().parent.parent
SUFFIX = ".fixture"


def materialise(source: Path, dest: Path, replace: dict[str, str] | None = None) -> Path:
    """Copy ``source`` to ``dest``, dropping ``.fixture`` suffixes and filling ``{{NAME}}``."""
    for path in sorted(source.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(source).as_posix().removesuffix(SUFFIX)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_bytes()
        for name, value in (replace or {}).items():
            text = text.replace(("{{" + name + "}}").encode(), value.encode())
        target.write_bytes(text)
    return dest


def lab_repo(dest: Path) -> Path:
    """The fixture lab repository, ready to grade against (``--root``)."""
    materialise(GRADELAB, dest)
    return dest


def expected() -> dict[str, dict]:
    with (SUBMISSIONS / "expected.toml").open("rb") as f:
        return tomllib.load(f)


def grader(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m grader ...`` from the repository, as an instructor runs it."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def schema() -> dict:
    return json.loads((REPO / "specs" / "gradescope-results.schema.json").read_text())


def copy_tree(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest
