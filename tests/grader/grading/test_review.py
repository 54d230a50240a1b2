"""The static review of a student's file: each construct flagged with its line, nothing the lab's
own starter or solution does, and ``--strict`` scoring a flagged lab 0."""

from __future__ import annotations

import pytest

from grader import manifest
from grader.grading import review, scoring

LABS = manifest.load()
LAB = LABS["01"]
STARTER = {rel: (LAB.folder / rel).read_bytes() for rel in LAB.files}
SOLUTION = {rel: (LAB.solution_folder / rel).read_bytes() for rel in LAB.files}


def findings(source: str) -> list[str]:
    return [str(f) for f in review.review(LAB, {"db.py": source.encode()}, STARTER, SOLUTION)]


@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_the_labs_own_starters_and_solutions_are_not_flagged(lab_id):
    lab = LABS[lab_id]
    starter = {rel: (lab.folder / rel).read_bytes() for rel in lab.files}
    solution = {rel: (lab.solution_folder / rel).read_bytes() for rel in lab.files}
    assert review.review(lab, starter, starter, solution) == []
    assert review.review(lab, solution, starter, solution) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("import importlib", "imports importlib"),
        ("from sanic_ms import db", "imports sanic_ms.db (the module this file rebuilds)"),
        ("import sanic_ms.db as ref", "imports sanic_ms.db (the module this file rebuilds)"),
        ("ref = __import__('sanic_ms' + '.db')", "dynamic import (__import__)"),
        ("exec('x = 1')", "exec()"),
        ("eval('1')", "eval()"),
        ("code = compile('1', 'f', 'eval')", "compile()"),
        ("data = open('/etc/passwd').read()", "file access outside the workspace ('/etc/passwd')"),
        ("data = open('../../../solutions/01/db.py')", "file access outside the workspace"),
        ("path = 'solutions' + '/01/db.py'", "names the solutions folder"),
        ("import gc", "imports gc"),
        ("import ctypes", "imports ctypes"),
        ("import sys\nmods = sys.modules", "reaches loaded modules (sys.modules)"),
        ("cells = print.__closure__", "reads a function's closure (__closure__)"),
        ("import _pytest.reports", "imports _pytest.reports"),
        ("import pluggy", "imports pluggy"),
        ("name = '_grader_harness'", "names the grader's harness"),
        ("import os\nos._exit(0)", "os._exit"),
    ],
)
def test_each_construct_is_flagged_with_its_line(line, expected):
    source = '"""A student\'s file."""\n\n' + line + "\n"
    lines = line.count("\n") + 3
    found = findings(source)
    assert any(expected in f and f.startswith("labs/01/db.py line ") for f in found), found
    assert all(3 <= int(f.split(" line ")[1].split(":")[0]) <= lines for f in found)


def test_what_the_starter_imports_is_allowed_and_a_syntax_error_is_left_to_the_tests():
    assert findings(STARTER["db.py"].decode() + "\nimport asyncio\nimport json\n") == []
    assert findings("def broken(:\n") == []


def test_strict_scores_the_lab_zero_and_tells_the_student_which_lines():
    result = scoring.LabResult(
        lab_id="01",
        title="t",
        score=9.0,
        max_score=9.0,
        tasks=[
            scoring.TaskResult(
                1,
                "t",
                "h",
                2.0,
                2.0,
                [scoring.TestResult("n", "n", 1, False, "passed", "", 2.0, 2.0)],
            )
        ],
    )
    flagged = review.review(LAB, {"db.py": b"import gc\n"}, STARTER, SOLUTION)
    review.zero(result, flagged)
    assert result.score == 0 and result.tasks[0].score == 0 and result.tasks[0].tests[0].score == 0
    assert "labs/01/db.py line 1: imports gc" in result.notes[-1]
