"""The graded run's jail and database: what a run can see and reach of the host, and grading from a
checkout in a private (0700) folder without changing any permission of the host."""

from __future__ import annotations

import json
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from grader.grading import database, sandbox, workspace
from tests.grader.grading.support import REPO, SUBMISSIONS, lab_repo, materialise, results

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(sandbox.BWRAP is None, reason="bubblewrap is not installed"),
]

PROBE = """
import json, os, socket
seen = {"root": sorted(os.listdir("/")), "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "uid": os.getuid(), "tmp": os.listdir("/tmp"), "shm": os.listdir("/dev/shm")}
for host, port in (("127.0.0.1", 5432), ("127.0.0.1", int(os.environ["PORT"]))):
    try:
        socket.create_connection((host, port), timeout=1).close()
        seen[f"tcp {port}"] = "connected"
    except OSError as exc:
        seen[f"tcp {port}"] = type(exc).__name__
seen["host socket"] = [p for p in ("/var/run/postgresql", "/run/postgresql") if os.path.exists(p)]
try:
    open("/workspace/written", "w")
    seen["workspace"] = "writable"
except OSError:
    seen["workspace"] = "read-only"
open("/tmp/left", "w").write("x")
open("/dev/shm/left", "w").write("x")
print(json.dumps(seen))
"""


def _in_jail(tmp_path: Path, code: str, env: dict[str, str]) -> dict:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "mine.txt").write_text("mine")
    slots, locks = sandbox.claim_uids(1) if sandbox.is_root() else ([], [])
    try:
        jail = sandbox.Jail(ws, tmp_path, sandbox.write_etc(tmp_path / "etc", slots))
        if slots:  # as confine.py does: leave root for the slot's uid before running anything
            uid = slots[0].uid
            code = f"import os\nos.setgroups([]); os.setgid({uid}); os.setuid({uid})\n" + code
        done = subprocess.run(
            [*sandbox.jail_argv(jail), sys.executable, "-I", "-S", "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        sandbox.release(locks)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_jail_sees_its_workspace_and_nothing_of_the_host(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        seen = _in_jail(tmp_path, PROBE, {"PORT": str(port)})
    finally:
        listener.close()
    # Only the bound folders: the system's, the jail's own, and the top folder of the interpreter
    # and venv (bound at the paths they know themselves by: /work, /root, /check ... wherever the
    # checkout lives). No /home, /var, /srv, /opt, nor anything else of the host.
    venv_tops = {Path(p).parts[1] for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    system = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev", "tmp"}
    assert set(seen["root"]) <= system | {"workspace", "grader"} | venv_tops, seen["root"]
    assert "var" not in seen["root"] and "home" not in seen["root"]
    assert len(seen["pids"]) <= 3  # its own PID namespace: bwrap's init, the probe
    assert seen[f"tcp {port}"] != "connected"  # the host's loopback is out of reach
    assert seen["tcp 5432"] != "connected"
    assert seen["host socket"] == []
    assert seen["workspace"] == "read-only"
    # Empty, but for the mount points of what is bound from under the host's /tmp (a checkout or
    # venv living there, as in a CI clone): bwrap makes those folders to mount on.
    bound = (sys.prefix, sys.base_prefix, sys.executable)
    under_tmp = {
        Path(p).resolve().relative_to("/tmp").parts[0]
        for p in bound
        if Path(p).resolve().is_relative_to("/tmp")
    }
    assert set(seen["tmp"]) <= under_tmp, seen["tmp"]
    assert seen["shm"] == []
    if sandbox.is_root():
        assert seen["uid"] >= sandbox.JAIL_UID_BASE
    # What the probe left in its /tmp and /dev/shm went with the jail.
    assert not Path("/tmp/left").exists() and not Path("/dev/shm/left").exists()


def test_the_grader_database_gives_a_run_a_role_that_cannot_escape(tmp_path):
    server = database.Server(tmp_path / "db").start()
    try:
        db = database.create(server.admin_dsn, str(server.socket.parent))
        with psycopg.connect(db.dsn, autocommit=True) as conn:
            who = conn.execute(
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            assert who == (False, False, True)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("COPY (SELECT 1) TO PROGRAM 'true'")
        # The superuser exists only over TCP from the host, never on the socket runs get.
        admin_on_socket = (
            f"postgresql://{database.ADMIN}:{server.password}@/postgres"
            f"?host={server.socket.parent}&port={server.port}"
        )
        with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects"):
            psycopg.connect(admin_on_socket)
        # Every role needs its password (scram-sha-256), even on the socket.
        no_password = db.dsn.replace(db.dsn.split("://", 1)[1].split("@", 1)[0], db.role)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(no_password)
        database.drop(server.admin_dsn, db)
        with psycopg.connect(server.admin_dsn) as conn:
            assert conn.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname = %s", (db.role,)
            ).fetchone() == (0,)
    finally:
        server.stop()
    assert not (tmp_path / "db").exists()


def test_sentinels_look_like_the_labs_own_tests():
    tests = REPO / "labs" / "01" / "tests"
    words = {w for p in tests.glob("*.py") for n in workspace.TEST_NAME.findall(p.read_text())
             for w in n.split("_")}  # fmt: skip
    for _ in range(20):
        sentinels = workspace.Sentinels.random(tests, (1, 2, 3))
        assert sentinels.filename.startswith("test_lab01_pool_")
        assert "sentinel" not in sentinels.filename + sentinels.source()
        for name in (sentinels.passing, sentinels.failing):
            assert set(name.split("_")) <= words
        assert f"@pytest.mark.task({sentinels.task})" in sentinels.source()
        assert sentinels.task in (1, 2, 3)


def _ancestor_modes(path: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mode for p in [path, *path.parents]}


def test_grading_from_a_checkout_in_a_private_folder_changes_no_permission(tmp_path):
    private = Path(tempfile.mkdtemp())  # 0700, like a home folder
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        checkout = private / "repo"
        files = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True,
        ).stdout.decode().split("\0")  # fmt: skip
        for rel in filter(None, files):
            if (REPO / rel).is_file():
                (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, checkout / rel)
        # The venv is reached through the private folder, as a checkout's own .venv would be.
        (checkout / ".venv").symlink_to(Path(sys.prefix))
        python = checkout / ".venv" / "bin" / "python"
        before = _ancestor_modes(Path(sys.executable).resolve()) | _ancestor_modes(checkout)
        root = lab_repo(tmp_path / "lab")
        subs = tmp_path / "submissions"
        for name in ("perfect", "imports_reference"):
            materialise(SUBMISSIONS / name, subs / name, {"PORT": "9"})
        out = tmp_path / "out"
        done = subprocess.run(
            [str(python), "-m", "grader", "--root", str(root), "grade", str(subs), "--out",
             str(out), "--labs", "01", "--jobs", "2", "--quiet", "--strict"],
            cwd=checkout, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "bubblewrap jail" in done.stdout
        assert _ancestor_modes(Path(sys.executable).resolve()) | _ancestor_modes(checkout) == before
        assert results(out, "perfect")["extra_data"]["labs"]["01"]["score"] == 10
        borrowed = results(out, "imports_reference")["extra_data"]["labs"]["01"]
        assert borrowed["score"] == 0 and "review" in borrowed["flags"]
        feedback = (out / "imports_reference" / "feedback.md").read_text()
        assert "This lab scored 0: the grader does not accept" in feedback
        assert "labs/01/calc.py line 4: imports importlib" in feedback
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_without_bubblewrap_the_summary_says_so_and_the_fallback_confines(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "BWRAP", None)
    isolation = sandbox.detect(1, "postgresql://nobody@db.invalid/postgres", scratch=tmp_path)
    try:
        assert not isolation.jail
        assert any("no bubblewrap jail (bwrap is not installed" in n for n in isolation.describe())
    finally:
        sandbox.release(isolation.locks)
