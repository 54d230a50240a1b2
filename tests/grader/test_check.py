"""``python -m grader check`` on the fixture labs, healthy and broken, and the CLI's dispatch."""

from __future__ import annotations

import sys
import types

import psycopg
import pytest

from grader import __main__ as cli
from grader.postgres import resolve
from tests.grader.grading.support import grader, lab_repo

pytestmark = pytest.mark.timeout(300)


def _public_tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in rows}


@pytest.fixture(scope="module", autouse=True)
def the_servers_own_database_is_left_alone():
    """The fixture labs' lab 02 creates a table. Checked outside a graded run, its tests must get
    a throwaway database, never the development server's own (DATABASE_URL here)."""
    server = resolve().dsn
    before = _public_tables(server)
    yield
    assert _public_tables(server) == before, f"a check created tables in {server}"


def test_check_passes_healthy_labs_and_prints_the_table(tmp_path):
    done = grader("--root", lab_repo(tmp_path / "repo"), "check")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["lab", "title", "tasks", "points", "tests"]
    assert lines[2].split()[:7] == ["01", "Calculator", "3", "10", "5", "5/5", "5/5"]
    assert lines[3].split()[:6] == ["02", "Store", "1", "4", "2", "2/2"]
    assert "check: ok (2 lab(s)" in done.stdout


def test_check_reports_every_kind_of_problem_and_fails(tmp_path):
    root = lab_repo(tmp_path / "repo")
    manifest = root / "labs" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('hint = "Return a + b."', 'hint = ""'))
    starter = root / "labs" / "01" / "calc.py"
    starter.write_text(
        starter.read_text().replace('raise NotImplementedError("TODO task 1: return a + b")',
                                    "return a + b")
    )  # fmt: skip
    (root / "solutions" / "02" / "store.py").write_text("async def save(conn, body):\n    pass\n")
    tests = root / "labs" / "01" / "tests" / "check_calc.py"
    tests.write_text(tests.read_text() + "\n\ndef test_without_a_task():\n    assert False\n")
    done = grader("--root", root, "check")
    assert done.returncode == 1
    problems = [line for line in done.stdout.splitlines() if line.startswith("PROBLEM")]
    text = "\n".join(problems)
    assert "lab 01 task 1: no hint" in text
    assert "lab 01 starter: labs/01/tests/check_calc.py::test_add_small passes" in text
    assert "check_calc.py::test_without_a_task is not marked with a task" in text
    assert (
        "lab 02 solution: labs/02/tests/check_store.py::test_a_saved_note_loads_back failed" in text
    )


def test_check_one_lab_only(tmp_path):
    done = grader("--root", lab_repo(tmp_path / "repo"), "check", "--lab", "2")
    assert done.returncode == 0, done.stdout
    assert "check: ok (1 lab(s)" in done.stdout


def test_student_commands_not_built_yet_say_so(monkeypatch, capsys):
    monkeypatch.setitem(cli.STUDENT_COMMANDS, "hint", ("grader.not_written_yet", "main_hint"))
    assert cli.main(["hint", "01", "1"]) == 2
    assert "not built yet" in capsys.readouterr().err


def test_student_commands_reach_the_labs_functions(monkeypatch):
    calls = []
    fake = types.ModuleType("grader.fake_student")
    fake.main_status = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "grader.fake_student", fake)
    monkeypatch.setitem(cli.STUDENT_COMMANDS, "status", ("grader.fake_student", "main_status"))
    assert cli.main(["status", "--labs", "01"]) == 0
    assert calls == [["--labs", "01"]]
