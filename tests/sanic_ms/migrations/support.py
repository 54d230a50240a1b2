"""What the migrations tests share: catalog queries and a model."""

from __future__ import annotations

import peewee
import psycopg


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
