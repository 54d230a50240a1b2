"""Which PostgreSQL we use, and throwaway databases."""

from __future__ import annotations

import asyncpg
import pytest

from grader import postgres


def test_mask_hides_only_the_password():
    assert postgres.mask("postgresql://u:pw@h:5/db") == "postgresql://u:***@h:5/db"
    assert postgres.mask("postgresql://u@h/db") == "postgresql://u@h/db"


def test_database_url_wins(monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:pw@db.example:5432/app")
    monkeypatch.setattr(postgres, "_announced", False)
    postgres._resolve.cache_clear()
    try:
        found = postgres.resolve()
    finally:
        postgres._resolve.cache_clear()
    assert found.source == "DATABASE_URL"
    assert (
        capsys.readouterr().err.strip()
        == "PostgreSQL: DATABASE_URL (postgresql://app:***@db.example:5432/app)"
    )


async def test_temporary_databases_are_created_empty_and_dropped():
    dsn = await postgres.create_database("test_tmp")
    conn = await asyncpg.connect(dsn)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )
    finally:
        await conn.close()
    await postgres.drop_database(dsn)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(dsn)


async def test_the_embedded_fallback_is_a_real_server():
    """What a machine with no PostgreSQL gets: the wheel's server, data under .pgdata/."""
    was_running = (postgres.EMBEDDED_DATA / "postmaster.pid").exists()
    dsn = postgres._embedded_dsn()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            assert (await conn.fetchval("SHOW server_version")).startswith("18")
            assert await conn.fetchval("SHOW data_directory") == str(postgres.EMBEDDED_DATA)
        finally:
            await conn.close()
    finally:
        if not was_running and postgres.resolve().source != "embedded":
            assert postgres.stop_embedded()
