"""The grader's pristine copy of the repository, and a fresh workspace per student and lab from it.

The pristine copy holds the files git tracks (or, outside git, everything but caches and venvs),
compiled once, owned by the grader and read-only to everyone else. A workspace is a tree of hard
links to it (fast: no bytes copied) in which only the lab's editable files are the student's, plus
the grader's sentinel tests and, if any, the hidden tests. It has no ``solutions/`` at all, and
the student's file also stands IN PLACE of the framework module it rebuilds (``labs/01/db.py`` is
``sanic_ms/db.py`` too): importing the reference gets the student's own code. Nothing in a
workspace is writable by the graded run: pytest gets ``-p no:cacheprovider`` and its own /tmp.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from grader.manifest import Lab

SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".pgdata",
    "node_modules",
    ".ipynb_checkpoints",
    "reports",
    "build",
    "dist",
}
SKIP_SUFFIXES = (".pyc", ".ipynb", ".egg-info")


def _tracked(root: Path) -> list[str]:
    if (root / ".git").exists():
        done = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=True,
        )
        names = [n for n in done.stdout.decode().split("\0") if n]
        return sorted(n for n in names if (root / n).is_file() and not _skipped(n))
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if not _skipped(rel):
                found.append(rel)
    return sorted(found)


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts) or rel.endswith(
        SKIP_SUFFIXES
    )


def tracked(root: Path, exclude: list[Path] = ()) -> list[str]:
    """The repository's files (relative paths) but those under any folder of ``exclude``."""
    files = _tracked(root)
    for folder in exclude:
        try:
            inside = folder.resolve().relative_to(root.resolve()).as_posix().rstrip("/") + "/"
        except ValueError:
            continue
        files = [rel for rel in files if not rel.startswith(inside)]
    return files


@dataclass
class Pristine:
    """A read-only snapshot of the repository the grader grades against."""

    path: Path
    files: list[str]
    digest: str  # of every file's path and bytes: part of each cache key

    @classmethod
    def create(cls, root: Path, dest: Path, exclude: list[Path] = ()) -> Pristine:
        """Copy ``root`` to ``dest``; nothing under ``exclude`` (hidden tests kept in the repo)."""
        files = tracked(root, exclude)
        digest = hashlib.sha256()
        dest.mkdir(parents=True)
        for rel in files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, target)
            data = target.read_bytes()
            digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
            os.chmod(target, 0o644)
        compileall.compile_dir(str(dest), quiet=2, workers=1)
        for folder, _dirs, names in os.walk(dest):
            os.chmod(folder, 0o755)
            for name in names:
                os.chmod(os.path.join(folder, name), 0o644)
        all_files = sorted(
            os.path.relpath(os.path.join(folder, name), dest)
            for folder, _, names in os.walk(dest)
            for name in names
        )
        return cls(dest, all_files, digest.hexdigest())

    def read(self, rel: str) -> bytes | None:
        path = self.path / rel
        return path.read_bytes() if path.is_file() else None

    def lab_digest(self, lab_id: str, hidden: Path | None) -> str:
        """What a lab's results depend on besides the student's files: the repo and hidden tests."""
        digest = hashlib.sha256(self.digest.encode())
        if hidden is not None and hidden.is_dir():
            for path in sorted(p for p in hidden.rglob("*") if p.is_file()):
                digest.update(str(path.relative_to(hidden)).encode() + b"\0" + path.read_bytes())
        digest.update(lab_id.encode())
        return digest.hexdigest()


SENTINEL_TEMPLATE = """import pytest


@pytest.mark.task({task})
def test_{passing}():
    assert sorted({values!r}) == {ordered!r}


@pytest.mark.task({task})
def test_{failing}():
    assert sum({values!r}) == {wrong!r}
"""
TEST_NAME = re.compile(r"^\s*(?:async\s+)?def test_(\w+)\(", re.MULTILINE)


@dataclass(frozen=True)
class Sentinels:
    """Two tests the grader adds, one that must pass and one that must fail, made to look like the
    lab's own: a file named like the lab's test files, names made of the words of its tests, a
    task marker of the lab; the harness runs them at random places among the lab's tests."""

    filename: str  # under labs/NN/tests/
    passing: str  # test function names, without "test_"
    failing: str
    task: int = 1

    @classmethod
    def random(cls, tests_dir: Path | None = None, tasks: tuple[int, ...] = (1,)) -> Sentinels:
        pick = secrets.SystemRandom()
        files = (
            sorted(p for p in tests_dir.glob("*.py")) if tests_dir and tests_dir.is_dir() else []
        )
        files = [p for p in files if p.name != "__init__.py" and p.name != "conftest.py"]
        words = [
            w for p in files for name in TEST_NAME.findall(p.read_text()) for w in name.split("_")
        ]
        words = [w for w in words if w.isalpha()] or ["value", "check", "result", "answer", "list"]
        existing = {p.name for p in files}
        stem = pick.choice(files).stem if files else "test_lab"

        def name() -> str:
            return "_".join(pick.choice(words) for _ in range(pick.randint(2, 4)))

        filename = f"{stem}_{pick.choice(words)}.py"
        while filename in existing:
            filename = f"{stem}_{pick.choice(words)}_{pick.choice(words)}.py"
        passing, failing = name(), name()
        while failing == passing:
            failing = name()
        return cls(filename, passing, failing, pick.choice(tasks or (1,)))

    def source(self, task: int | None = None) -> str:
        pick = secrets.SystemRandom()
        values = [pick.randint(1, 99) for _ in range(3)]
        return SENTINEL_TEMPLATE.format(
            task=task or self.task,
            passing=self.passing,
            failing=self.failing,
            values=values,
            ordered=sorted(values),
            wrong=sum(values) + 1,
        )


@dataclass(frozen=True)
class Workspace:
    path: Path
    sentinel_path: Path | None
    hidden_folder: str | None  # the random folder name under labs/NN/tests/


def build(
    pristine: Pristine,
    dest: Path,
    lab: Lab,
    editable: dict[str, bytes],
    hidden: Path | None = None,
    sentinels: Sentinels | None = None,
) -> Workspace:
    """Link the pristine tree into ``dest``; add the student's files, sentinels, hidden tests."""
    dest.mkdir(parents=True)
    # No solutions at all in reach of the code being graded (the reference run puts the solution
    # in labs/NN like a student's file).
    for rel in pristine.files:
        if rel.startswith("solutions/"):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(pristine.path / rel, target)
    lab_dir = dest / "labs" / lab.id
    for rel, data in editable.items():
        target = lab_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.unlink()  # a hard link: writing through it would change the pristine copy
        target.write_bytes(data)
        os.chmod(target, 0o644)
        # The starter's compiled file could pass for this one (same size, same second).
        for stale in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
            stale.unlink()
        # And in place of the reference module it rebuilds: importing sanic_ms.db gets this file.
        reference = dest / lab.files[rel]
        if reference.is_file():
            reference.unlink()
            os.link(target, reference)
            for stale in (reference.parent / "__pycache__").glob(f"{reference.stem}.*.pyc"):
                stale.unlink()
    tests_dir = lab_dir / "tests"
    tests_dir.mkdir(parents=True, exist_ok=True)
    sentinel_path = None
    if sentinels is not None:
        sentinel_path = tests_dir / sentinels.filename
        sentinel_path.write_text(sentinels.source())
        os.chmod(sentinel_path, 0o644)
    hidden_folder = None
    if hidden is not None and hidden.is_dir():
        hidden_folder = f"hidden_{secrets.token_hex(4)}"
        shutil.copytree(hidden, tests_dir / hidden_folder)
        package = tests_dir / hidden_folder / "__init__.py"
        if (tests_dir / "__init__.py").exists() and not package.exists():
            package.write_text("")
        for folder, _, names in os.walk(tests_dir / hidden_folder):
            os.chmod(folder, 0o755)
            for name in names:
                os.chmod(os.path.join(folder, name), 0o644)
    return Workspace(dest, sentinel_path, hidden_folder)
