"""What the migrations tests share: a schema of the test's own, catalog queries, a model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import peewee
import psycopg


@contextmanager
def own_schema(database_url: str, prefix: str = "m") -> Iterator[str]:
    """The session database seen through a fresh schema (search_path), dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{sep}options={quote(f'-c search_path={schema}')}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def query(dsn, sql, params=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def columns(dsn, table):
    rows = query(
        dsn,
        "SELECT column_name, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )
    return dict(rows)


def indexes(dsn, table):
    rows = query(
        dsn,
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
        (table,),
    )
    return {name for (name,) in rows}


def records(dsn, table):
    return query(
        dsn,
        "SELECT version, author FROM migrate_record WHERE table_name = %s ORDER BY id",
        (table,),
    )


class Books(peewee.Model):
    title = peewee.CharField(max_length=100)
    pages = peewee.IntegerField(null=True)
    isbn = peewee.CharField(max_length=20, null=True)

    class Meta:
        table_name = "books"
