"""What the database holds now (tables, columns, indexes, constraints), read from its catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import peewee


def execute(database: peewee.Database, sql: str, params: tuple[Any, ...] | None = None) -> Any:
    """``execute(database, sql, params)``: the cursor (psycopg placeholders: %s)."""
    # peewee-stubs leave execute_sql unannotated; the cursor is the driver's (psycopg's).
    return database.execute_sql(sql, params)  # type: ignore[no-untyped-call]


def table_exists(database: peewee.Database, table: str) -> bool:
    cursor = execute(
        database,
        "SELECT 1 FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )
    return cursor.fetchone() is not None


def column_exists(database: peewee.Database, table: str, column: str) -> bool:
    cursor = execute(
        database,
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
        (table, column),
    )
    return cursor.fetchone() is not None


def index_exists(database: peewee.Database, index: str) -> bool:
    cursor = execute(
        database,
        "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
        (index,),
    )
    return cursor.fetchone() is not None


def constraint_exists(database: peewee.Database, table: str, name: str) -> bool:
    cursor = execute(
        database,
        "SELECT 1 FROM information_schema.table_constraints"
        " WHERE table_schema = current_schema() AND table_name = %s AND constraint_name = %s",
        (table, name),
    )
    return cursor.fetchone() is not None


def has_rows(database: peewee.Database, table: str) -> bool:
    return execute(database, f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None


@contextmanager
def connection(database: peewee.Database) -> Iterator[None]:
    """Reuse an open connection (the caller may be inside a transaction), else open one."""
    if database.is_closed():
        with database.connection_context():
            yield
    else:
        yield
