"""The labs' event-loop watchdog, end to end: a handler that blocks the loop fails its test and
the message names the line and how long it blocked (what a student who writes time.sleep sees)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_a_handler_that_blocks_the_loop_fails_naming_the_line(tmp_path):
    for folder in ("labs", "grader", "bench"):
        shutil.copytree(
            REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "conftest.py"):
        shutil.copy(REPO / name, tmp_path / name)
    finished = (REPO / "solutions/00/blocking_vs_async.py").read_text()
    assert "    await asyncio.sleep(delay)\n" in finished
    # The mistake lab 00 is about: the async handler sleeps the blocking way.
    blocking = finished.replace("    await asyncio.sleep(delay)\n", "    time.sleep(delay)\n", 1)
    (tmp_path / "labs/00/blocking_vs_async.py").write_text(blocking)

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "labs/00",
            "-k",
            "async_sleep",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "blocked the event loop for" in done.stdout
    assert "labs/00/blocking_vs_async.py line" in done.stdout and "time.sleep(delay)" in done.stdout
