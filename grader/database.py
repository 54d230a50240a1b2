"""A PostgreSQL database and login role of its own for one graded run, dropped with all it made.

The role may create databases (the labs' session fixture makes one from ``DATABASE_URL``) but is no
superuser. When the run ends, every database the role owns is dropped, then the role: a run that
was killed before its own clean-up leaves nothing behind.
"""

from __future__ import annotations

import os
import queue
import secrets
import sys
import threading
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


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
    # The grader's pid in the name: a later grader drops what a killed one left (grader.infra).
    token = f"{os.getpid()}_{secrets.token_hex(6)}"
    name, role, password = f"grade_{token}", f"grade_{token}", secrets.token_urlsafe(18)
    with _connect(admin_dsn) as conn:
        try:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE PASSWORD {}"
                ).format(sql.Identifier(role), sql.Literal(password))
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
