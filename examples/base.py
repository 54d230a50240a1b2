"""What the example services share: the database they run on, the peewee base model (design
only) and list paging."""

from __future__ import annotations

from typing import Any

from peewee import Model, PostgresqlDatabase
from sanic import Blueprint, Sanic

import sanic_ms
from grader import postgres
from sanic_ms import doc
from sanic_ms.errors import BadRequest


def development_database(settings: Any) -> None:
    """Without a ``DATABASE_URL`` in ``settings`` or the environment, set the environment's to the
    development server (``grader.postgres``: 127.0.0.1:5432, else an embedded one).

    The framework only reads ``DATABASE_URL``; this is what lets ``sanic
    examples.users.server:create_app --factory`` run on a laptop with nothing set up. A deployed
    service (docker-compose) sets the variable, so nothing is resolved there.
    """
    if isinstance(settings, dict) and settings.get("DATABASE_URL"):
        return
    postgres.use()


def service_app(
    name: str, bp: Blueprint, settings: dict[str, Any] | None, defaults: dict[str, Any]
) -> Sanic:
    """An example service's app: ``settings`` win over ``defaults`` and over the environment; the
    development database when neither names one."""
    development_database(settings)
    app = sanic_ms.create_app(name, settings, defaults=defaults)
    app.blueprint(bp)
    return app


# peewee never connects from a service: models describe tables for migrations and docs only.
# Migrations bind this database to a real connection (see sanic_ms.migrations).
design_db = PostgresqlDatabase(None)


class BaseModel(Model):
    class Meta:
        database = design_db


def page_args(args: Any, max_size: int = 100) -> tuple[int, int]:
    """``?page=&size=`` as validated ints (page from 1, size from 1 to ``max_size``)."""
    problems = {}
    values = {}
    for name, default, low, high in (("page", 1, 1, None), ("size", 20, 1, max_size)):
        raw = args.get(name, default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            problems[name] = f"must be an integer, got {raw!r}"
            continue
        if value < low or (high is not None and value > high):
            problems[name] = f"must be between {low} and {high}" if high else f"must be >= {low}"
        values[name] = value
    if problems:
        raise BadRequest("Invalid paging parameters", problems)
    return values["page"], values["size"]


# The same parameters, for the docs (and checked before the handler runs).
# An id in a path: any int4 (an id that does not exist is a 404, not a bad request).
ID = doc.Integer("id", format="int32", minimum=-(2**31), maximum=2**31 - 1)
PAGING = {
    "page": doc.Integer("page number, from 1", required=False, minimum=1, maximum=10**9, default=1),
    "size": doc.Integer("rows per page", required=False, minimum=1, maximum=100, default=20),
}
