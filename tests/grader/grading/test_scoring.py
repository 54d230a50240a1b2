"""Scores add up: a lab's per-test maxima sum exactly to its points, whatever the test counts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grader import manifest
from grader.grading import run as runs
from grader.grading import scoring


@pytest.mark.parametrize("points", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("count", range(1, 31))
def test_shares_add_up_exactly(points, count):
    shares = scoring.shares(points, count)
    assert len(shares) == count
    assert sum(Decimal(str(s)) for s in shares) == points  # as Gradescope's table adds them
    assert Decimal(str(max(shares))) - Decimal(str(min(shares))) <= Decimal("0.0001")


def _reference(lab: manifest.Lab, per_task: int) -> runs.Run:
    collected = [
        {"nodeid": f"labs/{lab.id}/tests/test_x.py::test_{t.number}_{i}", "task": t.number,
         "file": "test_x.py"}
        for t in lab.tasks for i in range(per_task)
    ]  # fmt: skip
    tests = {item["nodeid"]: runs.TestOutcome("passed", task=item["task"]) for item in collected}
    return runs.Run(tests=tests, collected=collected, finished=True)


@pytest.mark.parametrize("lab_id", list(manifest.load(manifest.MANIFEST)))
def test_every_real_lab_s_maxima_sum_to_its_points(lab_id):
    """Lab 01 used to report 9 / 8.9999 (3 tests per 1-point task, each rounded to 0.3333)."""
    lab = manifest.load(manifest.MANIFEST)[lab_id]
    for per_task in (1, 3, 6, 7):
        reference = _reference(lab, per_task)
        result = scoring.score(lab, reference, reference, scoring.Redactor([]), 60, [])
        maxima = [Decimal(str(t.max_score)) for task in result.tasks for t in task.tests]
        earned = [Decimal(str(t.score)) for task in result.tasks for t in task.tests]
        assert sum(maxima) == lab.points == sum(earned) == Decimal(str(result.score))
