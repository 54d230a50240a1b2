"""Build the grader tests' inputs: the fixture lab repository and the synthetic submissions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
GRADELAB = FIXTURES / "gradelab"
SUBMISSIONS = FIXTURES / "submissions"
REPO = Path(__file__).resolve().parents[3]
SUFFIX = ".fixture"


def materialise(
    source: Path, dest: Path, replace: dict[str, str] | None = None, skip: tuple[str, ...] = ()
) -> Path:
    """Copy ``source`` to ``dest``, dropping ``.fixture`` suffixes and filling ``{{NAME}}``."""
    for path in sorted(source.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        if path.relative_to(source).parts[0] in skip:
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
    """The fixture lab repository, ready to grade against (``--root``); hidden tests stay out."""
    materialise(GRADELAB, dest, skip=("hidden",))
    return dest


def expected() -> dict[str, dict]:
    with (SUBMISSIONS / "expected.toml").open("rb") as f:
        return tomllib.load(f)


def grader(
    *args: str | Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m grader ...`` from the repository, as an instructor runs it."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / "results.json").read_text())


def schema() -> dict:
    return json.loads((REPO / "specs" / "gradescope-results.schema.json").read_text())


def hidden_tests(dest: Path) -> Path:
    """The fixture labs' hidden tests (``--hidden-tests``), kept apart from the repository."""
    return materialise(GRADELAB / "hidden", dest)
