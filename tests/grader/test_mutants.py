"""``grader.mutants`` and ``grader.agreement``: what counts as a caught mistake, a stale one, a
README that names a missing function and a bare assert; and that every planted mistake of the
manifest still applies to its solution."""

from __future__ import annotations

import pytest

from grader import agreement, manifest, mutants

LABS = manifest.load()


@pytest.mark.parametrize(
    "message, bare",
    [
        ("    def test_x():\n>       assert rows == []\nE       assert [1] == []\n", True),
        ("E   AssertionError: assert 1 == 2\n", True),
        (
            "E   AssertionError: fetch() should return dicts, got [<Record>]\nE   assert False",
            False,
        ),
        ("E   Failed: Attempt 3 of 6 to borrow a connection answered 503", False),
        ("After the test, 1 connection(s) of the pool were still borrowed", False),
    ],
)
def test_a_bare_assert_is_told_from_a_message(message, bare):
    assert mutants.bare_assert(message) is bare, message


def test_a_mistake_applies_only_where_its_text_occurs_once():
    mistake = manifest.Mutation("m", 1, "f.py", "b", "B")
    assert mutants.mutate("abc", mistake) == "aBc"
    assert mutants.mutate("abcb", mistake) is None, "ambiguous: twice"
    assert mutants.mutate("xyz", mistake) is None, "stale: not there"


@pytest.mark.parametrize("lab", LABS.values(), ids=lambda lab: lab.id)
def test_every_planted_mistake_applies_to_its_solution(lab):
    assert len(lab.mutations) >= lab.min_mutations >= 8, f"lab {lab.id}: too few mistakes"
    assert {m.task for m in lab.mutations} == {t.number for t in lab.tasks}, (
        f"lab {lab.id}: a task without a planted mistake"
    )
    for mistake in lab.mutations:
        source = (lab.solution_folder / mistake.file).read_text()
        assert mutants.mutate(source, mistake) not in (None, source), (
            f"lab {lab.id} {mistake.name}: its find text is not in solutions/{lab.id}/"
            f"{mistake.file} exactly once"
        )


def test_the_labs_readmes_and_tests_agree():
    problems = [p for lab in LABS.values() for p in agreement.problems(lab)]
    assert problems == [], "\n".join(problems)


def fake_lab(root, readme, starter, tests):
    for folder in ("labs/99/tests", "solutions/99"):
        (root / folder).mkdir(parents=True)
    (root / "labs/99/README.md").write_text(readme)
    (root / "labs/99/calc.py").write_text(starter)
    (root / "solutions/99/calc.py").write_text(starter)
    (root / "labs/99/tests/test_calc.py").write_text(tests)
    task = manifest.Task(1, "Add", 1, "hint")
    return manifest.Lab("99", "Calc", "calc", 5, {"calc.py": "calc.py"}, (task,), root=root)


def test_a_readme_naming_a_missing_function_and_a_bare_assert_are_problems(tmp_path):
    lab = fake_lab(
        tmp_path,
        "# Lab\n\n## 1. Add (1 point)\n\nWrite `add(a, b)`; `subtract(a, b)` helps.\n",
        "def add(a, b):\n    raise NotImplementedError('TODO task 1: add')\n",
        "def test_add():\n    assert add(1, 2) == 3\n",
    )
    problems = agreement.problems(lab)
    assert any("names subtract(), which calc.py do not define" in p for p in problems), problems
    assert any("test_calc.py line 2: `assert` without a message" in p for p in problems), problems
    assert not any("names no function" in p for p in problems), problems


@pytest.mark.parametrize(
    "nodeid, plain",
    [
        ("t.py::test_x[the_solution_itself]", "t.py::test_x"),
        ("t.py::test_x[the_solution_itself-no_city]", "t.py::test_x[no_city]"),
        ("t.py::test_x[headers0-what0-the_solution_itself]", "t.py::test_x[headers0-what0]"),
    ],
)
def test_the_shared_sessions_solution_run_reads_as_a_plain_one(nodeid, plain):
    assert mutants._without_control(nodeid) == plain
