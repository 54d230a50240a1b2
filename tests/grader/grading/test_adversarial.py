"""The grader against synthetic submissions that misbehave: each gets its exact score, none stops
the batch, nothing leaks to the student and nothing is left behind."""

from __future__ import annotations

import glob
import socket
import threading
import zipfile
from pathlib import Path

import jsonschema
import psycopg
import pytest

from grader.grading import sandbox
from grader.postgres import resolve
from tests.grader.grading.support import (
    SUBMISSIONS,
    expected,
    grader,
    hidden_tests,
    lab_repo,
    materialise,
    results,
    schema,
)

pytestmark = pytest.mark.timeout(600)
HIDDEN_SECRET = "hidden-secret-7f3a9c"
EXPECTED = expected()
# Submissions whose expectations hold only inside a bubblewrap jail (own /tmp, no solutions/ ...).
JAILED = {"imports_reference", "escapes_database", "leaves_files", "snoops"}


class Listener:
    """A TCP server on the host's loopback that records whoever reaches it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(100) or b"<connected>")
                except OSError:
                    self.received.append(b"<connected>")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def _zip_with_traversal(dest: Path) -> None:
    """A zip of a clone with the perfect calc.py, plus entries that try to escape."""
    perfect = (SUBMISSIONS / "perfect/labs/01/calc.py.fixture").read_bytes()
    with zipfile.ZipFile(dest, "w") as archive:
        archive.writestr("zip_with_traversal-main/labs/01/calc.py", perfect)
        archive.writestr("zip_with_traversal-main/../../../../tmp/grader-pwned.py", b"pwned")
        archive.writestr("/tmp/grader-pwned-absolute.py", b"pwned")
        link = zipfile.ZipInfo("zip_with_traversal-main/labs/01/link.py")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("adversarial")
    root = lab_repo(base / "repo")
    hidden = hidden_tests(base / "hidden")
    listener = Listener()
    subs = base / "submissions"
    for folder in sorted(p for p in SUBMISSIONS.iterdir() if p.is_dir()):
        materialise(folder, subs / folder.name, {"PORT": str(listener.port)})
    _zip_with_traversal(subs / "zip_with_traversal.zip")
    out = base / "out"
    done = grader(
        "--root", root, "grade", subs, "--out", out, "--labs", "01", "--jobs", "2",
        "--hidden-tests", hidden, "--timeout", "8", "--test-timeout", "2", "--quiet",
    )  # fmt: skip
    listener.close()
    return {"done": done, "out": out, "listener": listener, "root": root}


def test_the_batch_finishes_and_the_solution_passes_in_the_grader(batch):
    done = batch["done"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PROBLEM" not in done.stderr


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_gets_its_exact_score_and_flags(batch, student):
    if student == "fork_bomb" and not sandbox.is_root():
        pytest.skip("the process limit is only per job when the grader runs as root")
    if student in JAILED and sandbox.BWRAP is None:
        pytest.skip("bubblewrap is not installed: the fallback confinement does not stop this")
    want = EXPECTED[student]
    got = results(batch["out"], student)
    lab = got["extra_data"]["labs"]["01"]
    assert (lab["score"], sorted(lab["flags"])) == (want["score"], sorted(want["flags"])), (
        batch["out"] / "_logs" / student / "lab_01.log"
    ).read_text()[-3000:]
    student_flags = [f for f in got["extra_data"]["flags"] if ":" not in f]
    assert student_flags == want.get("student_flags", [])


def test_every_results_json_is_valid_for_gradescope(batch):
    validator = jsonschema.Draft202012Validator(schema())
    for student in EXPECTED:
        data = results(batch["out"], student)
        assert list(validator.iter_errors(data)) == [], student
        hidden = [t for t in data["tests"] if "(hidden)" in t["name"]]
        assert hidden and all(t["visibility"] == "after_published" for t in hidden)


def test_hidden_tests_never_reach_a_student(batch):
    out = batch["out"]
    for student in EXPECTED:
        for name in ("feedback.md", "results.json"):
            assert HIDDEN_SECRET not in (out / student / name).read_text(), (student, name)
    # The submission that went looking did find the source (the instructor's log shows it) ...
    assert HIDDEN_SECRET in (out / "_logs" / "reads_hidden" / "lab_01.log").read_text()
    # ... and what its failure message carried was redacted, not shown.
    assert "[redacted: hidden test source]" in (out / "reads_hidden" / "feedback.md").read_text()


def test_ignored_edits_and_skipped_entries_are_reported_to_the_student(batch):
    out = batch["out"]
    edits = (out / "edits_tests" / "feedback.md").read_text()
    assert "Ignored: you modified labs/01/tests/check_calc.py" in edits
    conftest = (out / "conftest_passes_all" / "feedback.md").read_text()
    assert "Ignored: you added labs/01/conftest.py" in conftest
    assert "Ignored: you added conftest.py" in conftest
    traversal = (out / "zip_with_traversal" / "feedback.md").read_text()
    assert "path escapes the submission" in traversal
    assert "symbolic link" in traversal


def test_no_network_reaches_the_host(batch):
    assert batch["listener"].received == []
    assert results(batch["out"], "tries_network")["extra_data"]["labs"]["01"]["score"] == 10


def _from_logs(out: Path, field: str) -> set[str]:
    values = set()
    for log in out.glob("_logs/*/lab_*.log"):
        for line in log.read_text().splitlines()[:10]:
            if line.startswith(f"{field}: ") and line != f"{field}: ":
                values.add(line.split(": ", 1)[1])
    return values


def test_nothing_is_left_behind(batch):
    out = batch["out"]
    assert not Path("/tmp/grader-pwned.py").exists()
    assert not Path("/tmp/grader-pwned-absolute.py").exists()
    accounts = _from_logs(out, "account")
    if sandbox.is_root():
        assert accounts
        for account in accounts:
            if account.startswith("uid"):  # a jail's slot: a bare uid, no account
                uid = int(account.removeprefix("uid"))
                assert uid >= sandbox.JAIL_UID_BASE
            else:
                assert account.startswith(sandbox.USER_PREFIX)
                uid = sandbox.pwd.getpwnam(account).pw_uid
            assert sandbox.processes_of(uid) == []
    databases = _from_logs(out, "database")
    assert len(databases) == len(EXPECTED) + 1  # each run had its own; the solution's too
    with psycopg.connect(resolve().dsn, autocommit=True) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s) "
            "UNION ALL SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
            (list(databases), list(databases)),
        ).fetchall()
    assert left == []


@pytest.mark.skipif(sandbox.BWRAP is None, reason="bubblewrap is not installed")
def test_what_a_run_leaves_or_breaks_out_to_never_reaches_the_host(batch):
    port = batch["listener"].port
    # leaves_files wrote into its /tmp and /dev/shm (else it would not score 10): gone with its jail.
    assert glob.glob(f"/tmp/grader-left-{port}-*") == []
    assert glob.glob(f"/dev/shm/grader-left-{port}-*") == []
    # escapes_database's COPY ... TO PROGRAM never ran on the host's server.
    assert glob.glob(f"/tmp/grader-escaped-{port}-*") == []
    summary = batch["done"].stdout
    assert "bubblewrap jail" in summary and "the grader's own PostgreSQL" in summary


@pytest.mark.parametrize(
    ("student", "why"),
    [
        ("forge_outcome_descriptor", "TestReport.outcome"),
        ("forge_emit_wrap", "sentinels wrong"),
        ("forge_key_from_closure", "not signed by the harness"),
        ("forge_dup2", "keys taken for"),
    ],
)
def test_each_forgery_is_named_in_the_instructors_log(batch, student, why):
    log = (batch["out"] / "_logs" / student / "lab_01.log").read_text()
    assert why in log


def test_summary_flags_integrity_and_timeouts(batch):
    page = (batch["out"] / "summary.html").read_text()
    assert "integrity" in page and "fake_results" in page
    assert "timeout" in page and "loop_at_import" in page
    assert "<svg" in page
