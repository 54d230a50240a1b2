"""Fixtures for every test in the repository: one fresh PostgreSQL database per test session."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sanic import Sanic

from grader.postgres import create_database, drop_database, resolve

# Tests build many apps with the same names (users, cities, ...); Sanic allows that in test mode.
Sanic.test_mode = True


@pytest.fixture(scope="session")
def database_url():
    """A database created for this test session and dropped at its end."""
    resolve()
    dsn = asyncio.run(create_database("test_sanic_ms"))
    yield dsn
    asyncio.run(drop_database(dsn))


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
