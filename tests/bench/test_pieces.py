"""``python -m bench.pieces``: every piece is measured, as a positive number of µs, and printed."""

from __future__ import annotations

import subprocess

from bench.processes import REPO_ROOT, python

PIECES = (
    "log line",
    "log.info, no fields",
    "log line, plain formatter",
    "orjson line, no logging",
    "SERVER span",
    "query span",
    "span to Zipkin JSON",
)


def test_each_piece_is_measured_and_printed():
    done = subprocess.run(
        python("-m", "bench.pieces", "--count", "200", "--repeats", "1"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        cells[0]: float(cells[1])
        for line in done.stdout.splitlines()[2:]
        if (cells := [cell.strip() for cell in line.strip("|").split("|")])
    }
    assert tuple(rows) == PIECES
    assert all(us > 0 for us in rows.values()), rows
    assert done.stdout.count("{") == 0, "a log line leaked onto stdout: " + done.stdout[:500]


def test_a_count_of_zero_is_refused():
    done = subprocess.run(
        python("-m", "bench.pieces", "--count", "0"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--count >= 1" in done.stderr
