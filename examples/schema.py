"""Create the example tables from their peewee models (the demo and tests start from empty)."""

from __future__ import annotations

from examples.cities.models import Cities
from examples.roles.models import Roles
from examples.users.models import Users
from sanic_ms.migrations import create_table_sql as _create_table_sql

MODELS = (Cities, Roles, Users)


def create_table_sql(models=MODELS) -> list[str]:
    """The CREATE TABLE / INDEX statements for ``models`` (with SQL defaults), as SQL text."""
    return _create_table_sql(models)


async def create_tables(conn, models=MODELS) -> None:
    """Run the statements on an asyncpg connection (or a ``sanic_ms.db.Connection``)."""
    for statement in create_table_sql(models):
        await conn.execute(statement)
