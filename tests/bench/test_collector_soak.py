"""``python -m bench.collector_soak``, short: it posts, samples the collector and writes its table.

Speed is never asserted: only that spans were accepted and every sample has a memory reading.
"""

from __future__ import annotations

import csv
import subprocess

from bench.processes import REPO_ROOT, python


def test_short_collector_soak_samples_memory_and_answers(tmp_path):
    args = ["--seconds", "4", "--rate", "2000", "--batch", "100", "--every", "1"]
    run = subprocess.run(
        python("-m", "bench.collector_soak", *args, "--max-traces", "50", "--out", str(tmp_path)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    with (tmp_path / "samples.csv").open() as f:
        samples = list(csv.DictReader(f))
    assert len(samples) >= 3
    assert all(float(s["rss_mb"]) > 0 for s in samples)
    assert sum(int(float(s["spans_per_s"])) for s in samples) > 0
    text = (tmp_path / "results.md").read_text()
    assert "posts timed out or failed" in text and "max traces 50" in text
