"""Run the student's commands with the workshop's own Python: re-run inside ``.venv``, or say how.

``python -m grader ...`` and ``pytest labs/NN`` typed in a shell where the virtualenv is not
active would use a Python without Sanic and asyncpg, and fail far from the cause (a plugin import
error, a status of 0 points). :func:`ensure` runs first in both: when ``.venv/bin/python`` exists
and is not the running interpreter, it replaces this process with the same command under it;
when there is no ``.venv`` and the packages are missing, it stops with one line saying how to set
up. Only the standard library is imported here, so it works from any Python 3.11.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = REPO_ROOT / ".venv"
GUARD = "SANIC_MS_REEXEC"  # set in the re-run process: never re-run twice (a broken .venv)
NEEDED = ("sanic", "asyncpg", "pytest")  # what the labs cannot start without
HOW = "run `make setup`, then `source .venv/bin/activate` (or call .venv/bin/python)"


def _inside(venv: Path) -> bool:
    try:
        return Path(sys.prefix).resolve() == venv.resolve()
    except OSError:
        return False


def _missing() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def ensure(argv: list[str], what: str, venv: Path = VENV) -> None:
    """Re-run ``python ARGV`` under ``venv``'s Python unless already there; exit if impossible.

    ``what`` names the command for the message (``python -m grader``, ``pytest``).
    """
    python = venv / "bin" / "python"
    if _inside(venv):
        return
    if python.exists() and not os.environ.get(GUARD):
        print(f"({what}: using {python.relative_to(REPO_ROOT)})", file=sys.stderr, flush=True)
        os.environ[GUARD] = "1"
        try:
            os.execv(python, [str(python), *argv])
        except OSError as exc:
            sys.exit(f"{what}: cannot run {python} ({exc}): {HOW}")
    if missing := _missing():
        sys.exit(
            f"{what}: this Python ({sys.executable}) lacks the workshop's packages "
            f"({', '.join(missing)}): {HOW}"
        )


def pytest_addoption(parser, pluginmanager) -> None:
    """Loaded first with ``-p grader.venv`` (pyproject's addopts): before any other plugin."""
    ensure(["-m", "pytest", *sys.argv[1:]], "pytest")
