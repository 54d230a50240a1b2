"""PostgreSQL URLs: the one a service runs with, safe to print, and throwaway databases beside it.

The framework never guesses a server: ``DATABASE_URL`` (the environment, or the setting of that
name) says which. Choosing one on a laptop (a local server, an embedded one) is the development
tooling's job (``grader.postgres`` in this workshop), done before the framework is called.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import asyncpg


class MissingDatabaseURL(RuntimeError):
    """No PostgreSQL URL was given: the one line that says what to set, and how."""

    def __init__(self, who: str, alternative: str = "") -> None:
        super().__init__(
            f"{who} needs a PostgreSQL URL and DATABASE_URL is not set: "
            "export DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DBNAME"
            + (f" ({alternative})" if alternative else "")
        )


def mask(dsn: str) -> str:
    """The DSN with its password replaced by ``***``, safe to print."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(dsn: str, database: str) -> str:
    """The same server, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def database_url(who: str, alternative: str = "", environ: Mapping[str, str] = os.environ) -> str:
    """``DATABASE_URL`` from the environment, or :class:`MissingDatabaseURL` naming ``who`` (and
    ``alternative``, another way to give it)."""
    url = environ.get("DATABASE_URL")
    if not url:
        raise MissingDatabaseURL(who, alternative)
    return url


async def create_database(prefix: str = "sanic_ms", admin: str | None = None) -> str:
    """Create an empty database with a unique name on ``admin``'s server; return its DSN.

    ``admin`` (a DSN allowed to create databases) defaults to ``DATABASE_URL``.
    """
    admin = admin or database_url("create_database")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin, name)


async def drop_database(dsn: str, admin: str | None = None) -> None:
    """Drop a database made by :func:`create_database`, disconnecting whoever still uses it."""
    admin = admin or database_url("drop_database")
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
