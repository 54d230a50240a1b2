"""Create the example tables from their peewee models (the demo and tests start from empty)."""

from __future__ import annotations

import asyncpg

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


async def create_example_rows(dsn: str, role: str = "admin", sex: str | None = None) -> None:
    """The example tables in ``dsn``'s (empty) database, with a city (Lisbon, id 1), a role
    (``role``, id 1) and a user (Ada, 36, of that city and role; ``sex`` when given)."""
    conn = await asyncpg.connect(dsn)
    try:
        await create_tables(conn)
        await conn.execute("INSERT INTO cities (name) VALUES ('Lisbon')")
        await conn.execute("INSERT INTO roles (name) VALUES ($1)", role)
        if sex is None:
            await conn.execute(
                "INSERT INTO users (name, age, city_id, role_id) VALUES ('Ada', 36, 1, 1)"
            )
        else:
            await conn.execute(
                "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ('Ada', 36, $1, 1, 1)",
                sex,
            )
    finally:
        await conn.close()
