"""Infrastructure is not the student's fault: the database and the solution are checked before
anyone is graded, a run the database refused is run again (and flagged ``infra``, never cached,
when it fails again), and what a grader killed with SIGKILL left is removed by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from grader.grading import database, grade, infra, run
from grader.postgres import resolve
from tests.grader.grading.support import REPO, SUBMISSIONS, grader, lab_repo, materialise

pytestmark = pytest.mark.timeout(300)


def _admin() -> psycopg.Connection:
    return psycopg.connect(resolve(verbose=False).dsn, autocommit=True)


def _class(base: Path) -> tuple[Path, Path]:
    root = lab_repo(base / "repo")
    subs = base / "subs"
    materialise(SUBMISSIONS / "perfect", subs / "ada")
    return root, subs


def test_a_wrong_database_url_stops_the_batch_with_one_line(tmp_path):
    root, subs = _class(tmp_path)
    out = tmp_path / "out"
    done = grader("--root", root, "grade", subs, "--out", out, "--labs", "01",
                  env={"DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:1/none"})  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("python -m grader")]
    assert len(errors) == 1 and "does not answer" in errors[0] and "DATABASE_URL" in errors[0]
    assert "secret" not in done.stderr  # the password is not printed
    assert not (out / "gradebook.csv").exists()


def test_a_solution_that_fails_in_the_grader_stops_the_batch(tmp_path):
    root, subs = _class(tmp_path)
    starter = (root / "labs" / "01" / "calc.py").read_bytes()
    (root / "solutions" / "01" / "calc.py").write_bytes(starter)
    out = tmp_path / "out"
    done = grader("--root", root, "grade", subs, "--out", out, "--labs", "01", "--quiet")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("python -m grader")]
    assert len(errors) == 1, done.stderr
    assert (
        "the solution does not score full marks in the grader, so no student was graded"
        in (errors[0])
    )
    assert "lab 01 solution: labs/01/tests/check_calc.py::test_add_small failed" in errors[0]
    assert not (out / "ada").exists()
    assert (out / "_logs" / "_solution" / "lab_01.log").is_file()


class RefusingDatabases:
    """Wraps ``grader.grading.database.create``: the databases made n-th (1-based) in ``refuse`` accept
    no connection from their run's role, as a full server would refuse them."""

    def __init__(self, refuse: set[int]) -> None:
        self.refuse, self.made, self.real = refuse, 0, database.create

    def __call__(self, admin_dsn, socket_dir=None):
        db = self.real(admin_dsn, socket_dir)
        self.made += 1
        if self.made in self.refuse:
            with psycopg.connect(admin_dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 0").format(sql.Identifier(db.name))
                )
        return db


def _grade_store(tmp_path: Path, monkeypatch, refuse: set[int]) -> grade.Gradebook:
    root, subs = _class(tmp_path)
    monkeypatch.setattr(database, "create", RefusingDatabases(refuse))
    settings = grade.Settings(root=root, labs=["02"], jobs=1, progress=False, limits=run.Limits())
    return grade.grade(subs, tmp_path / "out", settings)


def test_a_run_the_database_refused_once_is_run_again(tmp_path, monkeypatch):
    # Databases are taken in the order they are made: 1 the solution's, 2 ada's, 3 ada's retry.
    book = _grade_store(tmp_path, monkeypatch, refuse={2})
    lab = book.students[0].labs["02"]
    assert (lab.score, lab.flags) == (4, [])
    log = (tmp_path / "out" / "_logs" / "ada" / "lab_02.log").read_text()
    assert "first attempt failed (database: TooManyConnectionsError)" in log
    assert list((tmp_path / "out" / ".cache").glob("*/02.json"))  # a sound result is cached


def test_a_run_the_database_refused_twice_is_flagged_infra_and_never_cached(tmp_path, monkeypatch):
    book = _grade_store(tmp_path, monkeypatch, refuse={2, 3})
    lab = book.students[0].labs["02"]
    assert lab.flags == ["infra"]
    assert "infra: database: TooManyConnectionsError" in lab.instructor_notes
    assert any("not your code" in note for note in lab.notes)
    cached = sorted(p.parent.name for p in (tmp_path / "out" / ".cache").glob("*/02.json"))
    assert cached == ["_solution"]
    assert book.problems == [  # the instructor's summary says to grade again
        "ada lab 02: flagged infra (infra: database: TooManyConnectionsError); grade the batch again"
    ]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_what_dead_graders_left(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    dsn = resolve(verbose=False).dsn
    folders = {pid: Path(tempfile.mkdtemp(prefix=f"{infra.TEMP_PREFIX}{pid}-", dir=tmp_path))
               for pid in (dead, alive)}  # fmt: skip
    names = {pid: f"{infra.DATABASE_PREFIX}{pid}_0123456789ab" for pid in (dead, alive)}
    with _admin() as conn:
        for name in names.values():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(name)))  # fmt: skip
    other = f"made_by_{dead}"  # a database the dead run's role made under another name
    with psycopg.connect(dsn, autocommit=True, user=names[dead]) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(other)))
    try:
        removed = infra.sweep(dsn, tmp_path)
        assert not folders[dead].exists() and folders[alive].exists()
        assert f"database {names[dead]}" in removed and f"role {names[dead]}" in removed
        assert f"database {other}" in removed
        with _admin() as conn:
            left = {r[0] for r in conn.execute(
                "SELECT datname FROM pg_database UNION SELECT rolname FROM pg_roles")}  # fmt: skip
        assert names[dead] not in left and other not in left and names[alive] in left
    finally:
        with _admin() as conn:
            for name in (other, *names.values()):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))  # fmt: skip
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _leftovers(pid: int) -> tuple[list[Path], list[str]]:
    folders = list(Path(tempfile.gettempdir()).glob(f"{infra.TEMP_PREFIX}{pid}-*"))
    with _admin() as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s "
            "UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
            (f"{infra.DATABASE_PREFIX}{pid}_%",) * 2)]  # fmt: skip
    return folders, names


def test_a_grader_killed_with_sigkill_is_cleaned_up_by_the_next(tmp_path):
    root, subs = _class(tmp_path)
    killed = subprocess.Popen(
        [sys.executable, "-m", "grader", "--root", root, "grade", subs, "--out", tmp_path / "a",
         "--labs", "01", "--quiet"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    own_server = False  # in a jail the batch's databases live in its own server, in its folder
    while time.monotonic() < deadline:
        folders, names = _leftovers(killed.pid)
        own_server = any((folder / "db").is_dir() for folder in folders)
        if folders and (names or own_server):
            break
        time.sleep(0.2)
    assert folders and (names or own_server), "the grader never made its folder and databases"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    time.sleep(3)  # the run it started ends by itself (a perfect submission is quick)
    assert _leftovers(killed.pid) != ([], [])  # nobody cleaned up after a SIGKILL ...
    done = grader("--root", root, "grade", subs, "--out", tmp_path / "b", "--labs", "01", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _leftovers(killed.pid) == ([], [])  # ... until the next grader started
    assert "removed what a killed grader left" in done.stdout
