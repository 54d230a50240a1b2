"""A PostgreSQL database and login role of its own for one graded run, dropped with all it made.

The role may create databases (the labs' session fixture makes one from ``DATABASE_URL``) but is no
superuser. When the run ends, every database the role owns is dropped, then the role: a run that
was killed before its own clean-up leaves nothing behind.
"""

from __future__ import annotations

import secrets
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
    token = secrets.token_hex(6)
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
