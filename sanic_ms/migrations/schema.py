"""CREATE TABLE from peewee models, with SQL defaults for the callables models use.

peewee keeps a callable default (``default=datetime.utcnow``) in Python: the column gets no SQL
DEFAULT, so a raw ``INSERT ... RETURNING`` (how services write, through asyncpg) that omits it
fails on NOT NULL. The callables models use for timestamps and ids get their SQL equivalent.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import peewee

_NOW = "CURRENT_TIMESTAMP"
_UTC_NOW = "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"  # a naive UTC timestamp, like utcnow()
_CALLABLE_DEFAULTS: dict[Any, str] = {
    dt.datetime.now: _NOW,
    dt.datetime.today: _NOW,
    dt.datetime.utcnow: _UTC_NOW,
    peewee.utcnow: _UTC_NOW,  # type: ignore[attr-defined]  # missing from peewee-stubs; TimestampField(utc=True) uses it
    dt.date.today: "CURRENT_DATE",
    uuid.uuid4: "gen_random_uuid()",  # built into PostgreSQL 13+
}


def sql_default(field: peewee.Field) -> str | None:
    """The SQL expression for ``field``'s Python default callable, or None if there is none."""
    default = field.default
    try:
        expression = _CALLABLE_DEFAULTS.get(default) if callable(default) else None
    except TypeError:  # an unhashable callable
        return None
    if expression is None:
        return None
    if isinstance(field, peewee.TimestampField):  # seconds (or ticks) since the epoch
        return f"CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * {field.resolution} AS BIGINT)"
    if expression == _UTC_NOW and field.field_type == "TIMESTAMPTZ":
        return _NOW  # an aware column stores the instant itself
    if default is uuid.uuid4 and field.field_type != "UUID":
        if field.field_type not in ("VARCHAR", "TEXT"):
            return None
        return "CAST(gen_random_uuid() AS TEXT)"  # str(uuid4()): the same 36 characters
    return expression


def _has_sql_default(field: peewee.Field) -> bool:
    return any(
        isinstance(c, peewee.SQL) and c.sql.lstrip().upper().startswith("DEFAULT")
        for c in field.constraints or ()
    )


@contextmanager
def sql_defaults(models: Iterable[type[peewee.Model]]) -> Iterator[None]:
    """While the block runs, the DDL of ``models`` carries SQL defaults (see :func:`sql_default`).

    A field that already declares ``constraints=[SQL("DEFAULT ...")]`` keeps its own.
    """
    changed: list[tuple[peewee.Field, list[Any] | None]] = []
    try:
        for model in models:
            for field in model._meta.sorted_fields:
                expression = sql_default(field)
                if expression is None or _has_sql_default(field):
                    continue
                changed.append((field, field.constraints))
                field.constraints = [
                    *(field.constraints or ()),
                    peewee.SQL(f"DEFAULT {expression}"),
                ]
        yield
    finally:
        for field, constraints in changed:
            field.constraints = constraints


def create_table_sql(models: Iterable[type[peewee.Model]]) -> list[str]:
    """The CREATE TABLE / INDEX statements for ``models`` (PostgreSQL), with their SQL defaults."""
    models = list(models)
    design = peewee.PostgresqlDatabase(None)
    statements = []
    with design.bind_ctx(models, bind_refs=False, bind_backrefs=False), sql_defaults(models):
        for model in models:
            schema: Any = model._schema  # type: ignore[attr-defined]  # not in peewee-stubs
            statements.append(_query(design, schema._create_table(safe=True)))
            for index in schema._create_indexes(safe=True):
                statements.append(_query(design, index))
    return statements


def _query(design: peewee.Database, node: Any) -> str:
    """The SQL text of a peewee query node, as ``design`` would send it."""
    context: Any = design.get_sql_context()  # Context.sql is unannotated in peewee-stubs
    return str(context.sql(node).query()[0])
