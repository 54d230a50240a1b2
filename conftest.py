"""The development side of this repository's tests: which PostgreSQL they create databases on.

The fixtures themselves (``database_url``, ``schema_dsn``, ``db``, ``app``, ``client``,
``mock_services``) come from the ``sanic_ms.testing`` plugin (``-p sanic_ms.testing`` in
pyproject.toml); it reads the server from ``DATABASE_URL``, which is set here before tests start.
"""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from sanic_ms.postgres import resolve


def pytest_configure(config: pytest.Config) -> None:
    # Before any test starts (unittest classes create their databases in setUpClass, not through
    # a fixture): DATABASE_URL if set, else 127.0.0.1:5432, else the embedded server. Quietly: the
    # output of a run is the tests'.
    os.environ["DATABASE_URL"] = resolve(verbose=False).dsn


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
