"""What this repository's tests share beyond the framework's fixtures: the example tables.

The fixtures themselves (``database_url``, ``schema_dsn``, ``db``, ``app``, ``client``,
``mock_services``) come from the ``sanic_ms.testing`` plugin (``-p sanic_ms.testing`` in
pyproject.toml); it reads the server from ``DATABASE_URL``, which the ``grader.postgres`` plugin
(``-p grader.postgres``) sets before tests start when it is unset: 127.0.0.1:5432, else the
embedded server. Here: what this repository's own tests share beyond that.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest


@pytest.fixture(scope="session")
def example_tables(database_url):
    """The example services' tables (from their peewee models) in the session database."""
    from examples.schema import create_tables

    async def create():
        conn = await asyncpg.connect(database_url)
        try:
            await create_tables(conn)
        finally:
            await conn.close()

    asyncio.run(create())
    return database_url
