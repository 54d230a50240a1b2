"""Create the example tables from their peewee models (the demo and tests start from empty)."""

from __future__ import annotations

from examples.base import design_db
from examples.cities.models import Cities
from examples.roles.models import Roles
from examples.users.models import Users

MODELS = (Cities, Roles, Users)


def create_table_sql(models=MODELS) -> list[str]:
    """The CREATE TABLE / INDEX statements peewee generates for ``models``, as SQL text."""
    statements = []
    with design_db.bind_ctx(models):
        for model in models:
            ctx = model._schema._create_table(safe=True)
            statements.append(design_db.get_sql_context().sql(ctx).query()[0])
            for index in model._schema._create_indexes(safe=True):
                statements.append(design_db.get_sql_context().sql(index).query()[0])
    return statements


async def create_tables(conn, models=MODELS) -> None:
    """Run the statements on an asyncpg connection (or a ``sanic_ms.db.Connection``)."""
    for statement in create_table_sql(models):
        await conn.execute(statement)
