"""Fixtures shared by the framework's tests: one fresh PostgreSQL database per test session."""

from __future__ import annotations

import pytest
from sanic import Sanic

from sanic_ms.postgres import create_database, drop_database, resolve

# Tests build many apps with the same names (users, cities, ...); Sanic allows that in test mode.
Sanic.test_mode = True


@pytest.fixture(scope="session")
def database_url():
    """A database created for this test session and dropped at its end."""
    import asyncio

    resolve()
    dsn = asyncio.run(create_database("test_sanic_ms"))
    yield dsn
    asyncio.run(drop_database(dsn))
