"""Throwaway PostgreSQL databases for tests: one per session, a schema per test, a few helpers.

The server comes from ``DATABASE_URL`` (any database on it: new ones are created beside it). Which
server that is on a laptop (a local one, an embedded one) is the development side's choice: this
repository's ``grader.postgres`` plugin sets ``DATABASE_URL`` before the tests start.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import asyncpg
import peewee
import psycopg

from ..dsn import create_database, database_url, drop_database
from ..migrations import create_table_sql


def server_url() -> str:
    """The PostgreSQL server tests create their databases on: ``DATABASE_URL``."""
    return database_url(
        "the tests (sanic_ms.testing)", "any database on the server: new ones are created beside it"
    )


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
    "TestDatabase",
    "create_database",
    "drop_database",
    "own_schema",
    "server_url",
]
