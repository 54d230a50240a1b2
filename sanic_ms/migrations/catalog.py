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


def _exists(database: peewee.Database, sql: str, params: tuple[str, ...]) -> bool:
    return execute(database, f"SELECT 1 FROM {sql}", params).fetchone() is not None


def table_exists(database: peewee.Database, table: str) -> bool:
    return _exists(
        database,
        "information_schema.tables WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )


def _table_has(database: peewee.Database, view: str, kind: str, table: str, name: str) -> bool:
    """Whether ``information_schema.<view>`` lists ``<kind>_name = name`` of ``table``."""
    return _exists(
        database,
        f"information_schema.{view}"
        f" WHERE table_schema = current_schema() AND table_name = %s AND {kind}_name = %s",
        (table, name),
    )


def column_exists(database: peewee.Database, table: str, column: str) -> bool:
    return _table_has(database, "columns", "column", table, column)


def index_exists(database: peewee.Database, index: str) -> bool:
    return _exists(
        database, "pg_indexes WHERE schemaname = current_schema() AND indexname = %s", (index,)
    )


def constraint_exists(database: peewee.Database, table: str, name: str) -> bool:
    return _table_has(database, "table_constraints", "constraint", table, name)


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
