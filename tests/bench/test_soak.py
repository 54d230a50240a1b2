"""``make soak``, short: every write accounted for, and no 5xx outside a fault window.

Speed is never asserted. Some 5xx inside a window are allowed: that is what a fault is.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from bench import soak_fleet, soak_report
from bench.processes import REPO_ROOT, python

DURATION = 36  # four 4 s faults between five 4 s steady slots


def test_phases_and_windows_classify_requests():
    windows = [soak_report.Window("table locked", 10.0, 12.0)]
    requests = [
        (1.0, 5.0, "GET /users/<id>", 200),
        (9.0, 1500.0, "GET /users/<id>", 503),  # began before, answered inside: the fault's
        (14.0, 10.0, "GET /users/<id>", 500),  # within RECOVERY of the end: the fault's
        (20.0, 10.0, "GET /users/<id>", 502),  # long after: a real failure
        (21.0, 10.0, "POST /users", 0),  # no answer at all counts too
    ]
    bad = soak_report.outside_windows(requests, windows)
    assert [r[0] for r in bad] == [20.0, 21.0]
    names = [p.name for p in soak_report.phases(0.0, 30.0, windows)]
    assert names == ["steady", "table locked", "after table locked"]


@pytest.mark.timeout(300)
def test_short_soak_keeps_every_write_and_fails_only_inside_fault_windows(tmp_path):
    run = subprocess.run(
        python(
            "-m", "bench.soak", "--duration", str(DURATION), "--users", "8", "--out", str(tmp_path)
        ),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert (tmp_path / "summary.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [w["name"] for w in summary["windows"]] == list(soak_fleet.FAULTS)
    for table, count in summary["integrity"].items():
        assert count["exact"], f"{table}: {count}"
    assert summary["integrity"]["users"]["created"] > 0  # writes really happened
    assert summary["failed_outside_windows"] == 0, summary["failed_outside_examples"]
    assert all(p["requests"] > 0 for p in summary["phases"]), summary["phases"]
    assert (tmp_path / "chart.png").stat().st_size > 10_000
    assert run.returncode == 0, run.stdout[-3000:]
