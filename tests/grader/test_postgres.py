"""Which PostgreSQL development uses (grader.postgres), and throwaway databases on it."""

from __future__ import annotations

import os

import asyncpg
import pytest

from grader import postgres


def test_use_sets_database_url_only_when_it_is_unset(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://mine@h/db")
    assert postgres.use() == "postgresql://mine@h/db"  # a deployment's own URL wins

    monkeypatch.delenv("DATABASE_URL")
    assert postgres.use() == postgres.resolve(verbose=False).dsn
    assert os.environ["DATABASE_URL"] == postgres.resolve(verbose=False).dsn  # for children too


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
