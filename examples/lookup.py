"""A small read-mostly service over one ``(id, name)`` table: what cities and roles both are."""

from __future__ import annotations

from sanic import Blueprint

from examples.base import ID, PAGING, page_args
from sanic_ms import BadRequest, NotFound, doc
from sanic_ms.openapi import TEXT
from sanic_ms.responses import pagination


def lookup_blueprint(table: str, singular: str, model=None) -> Blueprint:
    """``GET /<table>/<id>``, ``GET /<table>?page=&size=`` and ``POST /<table>`` for one table.

    ``model`` (the table's peewee model) documents the routes and validates their input.

    ``table`` is a fixed identifier from our own code, never user input, so it is safe in SQL.
    """
    bp = Blueprint(table)

    async def get_one(request, id: int):
        async with request.app.ctx.db.acquire(request, readonly=True) as conn:
            row = await conn.fetchrow(f"SELECT id, name FROM {table} WHERE id = $1", id)
        if row is None:
            raise NotFound(f"{singular} {id} not found")
        return row

    async def list_all(request):
        page, size = page_args(request.args)
        async with request.app.ctx.db.acquire(request, readonly=True) as conn:
            total = await conn.fetchval(f"SELECT count(*) FROM {table}")
            rows = await conn.fetch(
                f"SELECT id, name FROM {table} ORDER BY id LIMIT $1 OFFSET $2",
                size,
                (page - 1) * size,
            )
        return rows, pagination(page, size, total)

    async def create(request):
        data = request.ctx.data
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
            raise BadRequest(f"Invalid {singular}", {"name": "required: a non-empty string"})
        async with request.app.ctx.db.transaction(request) as conn:
            return await conn.fetchrow(
                f"INSERT INTO {table} (name) VALUES ($1) RETURNING id, name", data["name"]
            )

    if model is not None:
        _document(model, singular, get_one, list_all, create)
    bp.add_route(get_one, f"/{table}/<id:int>", methods=["GET"], name=f"get_{singular}")
    bp.add_route(list_all, f"/{table}", methods=["GET"], name=f"list_{table}")
    bp.add_route(create, f"/{table}", methods=["POST"], name=f"create_{singular}")
    return bp


def _document(model, singular: str, get_one, list_all, create) -> None:
    doc.summary(f"Get a {singular}")(get_one)
    doc.consumes({"id": ID}, location="path")(get_one)
    doc.produces(model)(get_one)
    doc.summary(f"List {model._meta.table_name}, a page at a time")(list_all)
    doc.consumes(PAGING, location="query")(list_all)
    doc.produces([model], pagination=True)(list_all)
    doc.summary(f"Create a {singular}")(create)
    # Not consumes(model): a name must also be non-empty, which the model cannot say.
    name = model.name
    doc.consumes(
        {
            "name": doc.String(
                name.verbose_name, minLength=1, maxLength=name.max_length, pattern=TEXT
            )
        }
    )(create)
    doc.produces(model)(create)
