"""The labs keep their promises: starters fail every task, solutions pass, one source, hints, TODOs.

Runs ``pytest labs`` twice in child processes (starters, then ``--solution``) on a fresh copy of
the repository whose starters are generated from their sources (``grader.fresh``: in a student's
clone ``labs/NN`` holds their work), and reads the task of every test from ``grader.labrun``.
"""

from __future__ import annotations

import re

import pytest

from grader import build, fresh, labrun, manifest

LABS = manifest.load()
# The first test to use a fixture below runs every lab's suite in a child process (minutes on a
# busy 2-core machine); the default per-test timeout is for ordinary tests.
WHOLE_RUN = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def fresh_repo(tmp_path_factory):
    return fresh.fresh_copy(tmp_path_factory.mktemp("fresh") / "repo")


def _run(root, solution):
    result = labrun.run(["labs"], solution=solution, limit=900, cwd=root)
    assert not result.timed_out, result.problem
    return result.tests


@pytest.fixture(scope="module")
def starter_results(fresh_repo):
    return _run(fresh_repo, solution=False)


@pytest.fixture(scope="module")
def solution_results(fresh_repo):
    return _run(fresh_repo, solution=True)


def test_generated_starters_and_solutions_match_their_sources():
    # A student's edited labs/NN file is their work; CI (CI set) fails on it as drift.
    drift = [d for d in fresh.drift() if fresh.strict() or not d.editable]
    assert not drift, "run `python -m grader build`:\n" + "\n".join(map(str, drift))


@pytest.mark.parametrize("lab", LABS.values(), ids=list(LABS))
def test_every_task_has_points_a_hint_and_a_readme_section(lab):
    assert lab.tasks, f"lab {lab.id} has no tasks"
    assert [t.number for t in lab.tasks] == list(range(1, len(lab.tasks) + 1))
    readme = (lab.folder / "README.md").read_text()
    headings = [int(n) for n in re.findall(r"^## (\d+)\. ", readme, flags=re.MULTILINE)]
    assert headings == [t.number for t in lab.tasks], f"labs/{lab.id}/README.md task headings"
    for task in lab.tasks:
        assert task.points > 0 and task.hint.strip(), f"lab {lab.id} task {task.number}"
        assert f"({task.points} point" in readme, (
            f"README of lab {lab.id}: points of task {task.number}"
        )
    assert f"notebooks/{lab.id}_{lab.slug}.ipynb" in readme
    assert f"pytest labs/{lab.id}" in readme and f"python -m grader hint {lab.id}" in readme


@pytest.mark.parametrize("lab", LABS.values(), ids=list(LABS))
def test_every_task_has_a_todo_in_the_starter(lab):
    marked = set().union(*build.markers(lab).values())
    assert marked == {t.number for t in lab.tasks}, f"lab {lab.id}: tasks with a solution block"
    generated = build.expected_files({lab.id: lab})
    starters = "".join(generated[lab.folder / name] for name in lab.files)
    for task in lab.tasks:
        assert f'NotImplementedError("TODO task {task.number}: ' in starters or (
            f'"TODO task {task.number}: ' in starters
        ), f"labs/{lab.id}: no TODO for task {task.number}"


def by_lab(results):
    return labrun.by_task(results)


@pytest.mark.parametrize("lab", LABS.values(), ids=list(LABS))
@WHOLE_RUN
def test_the_starter_fails_every_test_of_every_task(lab, starter_results):
    tests = {k: v for k, v in starter_results.items() if v["lab"] == lab.id}
    assert tests, f"no tests ran for labs/{lab.id}"
    tasks = by_lab(tests)[lab.id]
    assert set(tasks) == {t.number for t in lab.tasks}, f"lab {lab.id}: every task needs a test"
    passing = [nodeid for nodeid, test in tests.items() if test["outcome"] != "failed"]
    assert not passing, f"these tests do not fail on the untouched starter: {passing}"
    collection = [t for t in tests.values() if "ImportError" in t["message"]]
    assert not collection, f"lab {lab.id}: a starter test fails with an ImportError"


@pytest.mark.parametrize("lab", LABS.values(), ids=list(LABS))
@WHOLE_RUN
def test_the_solution_passes_every_test(lab, solution_results):
    tests = {k: v for k, v in solution_results.items() if v["lab"] == lab.id}
    assert tests, f"no tests ran for solutions/{lab.id}"
    failing = {k: v["message"][-600:] for k, v in tests.items() if v["outcome"] != "passed"}
    assert not failing, f"lab {lab.id}: the solution fails: {failing}"


@WHOLE_RUN
def test_lab06_planted_bugs_are_each_caught_by_the_reference_tests(solution_results):
    import sys

    sys.path.insert(0, str(LABS["06"].folder / "tests"))
    try:
        from users_variants import VARIANTS
    finally:
        sys.path.pop(0)
    assert len(VARIANTS) >= 4, "lab 06 ships at least 4 planted-bug variants"
    catches = {
        k: v for k, v in solution_results.items() if v["lab"] == "06" and "catch_the_planted" in k
    }
    caught = {
        k.rpartition("[")[2].rstrip("]") for k, v in catches.items() if v["outcome"] == "passed"
    }
    assert caught == set(VARIANTS), (
        f"variants not caught by solutions/06/check_users.py: {set(VARIANTS) - caught}"
    )
