"""Which database migrations run on: the DSN given, else DATABASE_URL, else one clear error."""

from __future__ import annotations

import peewee
import pytest

from sanic_ms import migrations


def test_without_a_dsn_or_database_url_connect_says_to_set_it(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(RuntimeError, match="DATABASE_URL is not set"):
        migrations.connect()


def test_connect_takes_database_url_and_accepts_the_postgres_scheme(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://ada@db.example:5432/shop")

    database = migrations.connect()

    assert isinstance(database, peewee.PostgresqlDatabase)
    assert database.database == "postgresql://ada@db.example:5432/shop"
    assert database.is_closed()  # nothing connects before the first query


def test_the_module_db_connects_to_database_url_on_first_use(monkeypatch, database_url):
    monkeypatch.setenv("DATABASE_URL", database_url)
    try:
        assert migrations.db.execute_sql("SELECT 1").fetchone() == (1,)
    finally:
        migrations.db.close()
        migrations.db.initialize(None)


def test_the_module_db_without_database_url_fails_clearly_on_first_use(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(RuntimeError, match="DATABASE_URL is not set"):
        migrations.db.execute_sql("SELECT 1")
    assert migrations.db.obj is None
