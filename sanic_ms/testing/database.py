"""Throwaway PostgreSQL databases for tests: one per session, a schema per test, a few helpers.

The server comes from ``DATABASE_URL`` (any database on it: new ones are created beside it). Which
server that is on a laptop (a local one, an embedded one) is the development side's choice: this
repository's ``conftest.py`` sets ``DATABASE_URL`` before the tests start.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import peewee
import psycopg

from ..migrations import create_table_sql


class NoDatabaseServer(RuntimeError):
    """``DATABASE_URL`` is not set, so there is no server to create test databases on."""


def server_url() -> str:
    """The PostgreSQL server tests create their databases on: ``DATABASE_URL``."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise NoDatabaseServer(
            "DATABASE_URL is not set: the tests need a PostgreSQL server to create a database on "
            "(e.g. DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres)"
        )
    return url


def with_database(dsn: str, database: str) -> str:
    """The same server, another database."""
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


async def create_database(server: str, prefix: str = "test_sanic_ms") -> str:
    """Create an empty database with a unique name on ``server``; return its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server, name)


async def drop_database(dsn: str, server: str) -> None:
    """Drop a database :func:`create_database` made, disconnecting whoever still uses it."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def own_schema(dsn: str, prefix: str = "t") -> Iterator[str]:
    """``dsn`` seen through a fresh schema (its ``search_path``), dropped with all it holds after.

    Tests that create tables of the same names share one database this way without meeting.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{sep}options={quote(f'-c search_path={schema}')}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


class TestDatabase:
    """A throwaway database: ``dsn``, and a few async helpers (one short connection per call)."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, dsn: str):
        self.dsn = dsn

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(self.dsn)
        try:
            yield conn
        finally:
            await conn.close()

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connect() as conn:
            return await conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        async with self.connect() as conn:
            return [dict(row) for row in await conn.fetch(query, *args)]

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        async with self.connect() as conn:
            row = await conn.fetchrow(query, *args)
        return dict(row) if row is not None else None

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchval(query, *args)

    async def create_tables(self, *models: type[peewee.Model]) -> None:
        """Create the tables of these peewee models (if they do not exist yet)."""
        async with self.connect() as conn:
            for statement in create_table_sql(models):
                await conn.execute(statement)


__all__ = [
    "NoDatabaseServer",
    "TestDatabase",
    "create_database",
    "drop_database",
    "own_schema",
    "server_url",
]
