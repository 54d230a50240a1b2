"""sanic_ms.dsn: a URL safe to log, another database on the same server, a missing URL named."""

from __future__ import annotations

import asyncpg
import pytest

from sanic_ms import dsn


def test_mask_hides_only_the_password():
    assert dsn.mask("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert dsn.mask("postgresql://u@h/db") == "postgresql://u@h/db"


def test_with_database_keeps_the_server_and_the_options():
    assert (
        dsn.with_database("postgresql://u:pw@h:5/postgres?sslmode=require", "app")
        == "postgresql://u:pw@h:5/app?sslmode=require"
    )


def test_a_missing_database_url_names_who_needs_it_and_how_to_set_it():
    with pytest.raises(
        dsn.MissingDatabaseURL, match=r"^migrate needs a PostgreSQL URL.*or pass --dsn\)$"
    ):
        dsn.database_url("migrate", "or pass --dsn", environ={})
    assert dsn.database_url("migrate", environ={"DATABASE_URL": "postgresql://h/d"}) == (
        "postgresql://h/d"
    )


async def test_throwaway_databases_are_made_on_the_database_url_server(database_url):
    made = await dsn.create_database("test_dsn", admin=database_url)
    assert made.rsplit("/", 1)[1].startswith("test_dsn_")
    conn = await asyncpg.connect(made)
    await conn.close()
    await dsn.drop_database(made, admin=database_url)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(made)
