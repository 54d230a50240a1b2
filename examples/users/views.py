"""HTTP API of the users service: CRUD on users, each user shown with its city and role."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint

from examples.base import ID, PAGING, page_args
from sanic_ms import BadRequest, NotFound, async_request, doc, logger
from sanic_ms.responses import pagination

from .models import Users

bp = Blueprint("users")

COLUMNS = "id, name, age, sex, city_id, role_id, create_time"
FIELDS: dict[str, type] = {"name": str, "age": int, "sex": str, "city_id": int, "role_id": int}
REQUIRED = ("name", "age", "city_id", "role_id")


# What the other services answer, for the docs (the 2018 "API class" style).
class CityApi:
    id = int
    name = doc.String("city name")


class RoleApi:
    id = int
    name = doc.String("role name")


USER_ID = {"id": ID}
# What a client sends: the database sets create_time.
USER_BODY = doc.Model(Users, exclude=["create_time"])


def user_fields(data: Any, *, partial: bool) -> dict[str, Any]:
    """The user fields of a request body, checked; 400 listing every wrong field otherwise."""
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object with the user's fields")
    problems = {}
    for name, kind in FIELDS.items():
        if name not in data:
            if not partial and name in REQUIRED:
                problems[name] = "required"
            continue
        value = data[name]
        if value is None and name == "sex":
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            problems[name] = f"must be {'an integer' if kind is int else 'a string'}"
    if unknown := sorted(set(data) - set(FIELDS)):
        problems.update({name: "unknown field" for name in unknown})
    if problems:
        raise BadRequest("Invalid user", problems)
    fields = {name: data[name] for name in FIELDS if name in data}
    if partial and not fields:
        raise BadRequest("Nothing to update: send at least one of " + ", ".join(FIELDS))
    return fields


@logger(type="method", category="users", description="fetch a city from the cities service")
async def get_city_by_id(request, id: int) -> Any:
    return await request.app.ctx.clients.cities.get(f"/cities/{id}", request=request)


@logger(type="method", category="users", description="fetch a role from the roles service")
async def get_role_by_id(request, id: int) -> Any:
    return await request.app.ctx.clients.roles.get(f"/roles/{id}", request=request)


@bp.post("/users")
@doc.summary("Create a user")
@doc.consumes(USER_BODY)
@doc.produces(Users)
async def create_user(request):
    fields = user_fields(request.ctx.data, partial=False)
    async with request.app.ctx.db.transaction(request) as conn:
        return await conn.fetchrow(
            f"INSERT INTO users (name, age, sex, city_id, role_id) VALUES ($1, $2, $3, $4, $5) "
            f"RETURNING {COLUMNS}",
            fields["name"],
            fields["age"],
            fields.get("sex"),
            fields["city_id"],
            fields["role_id"],
        )


@bp.get("/users/<id:int>")
@doc.summary("Get a user with its city and role")
@doc.description("City and role come from the cities and roles services, fetched in parallel.")
@doc.consumes(USER_ID, location="path")
@doc.produces(doc.Model(Users, extra={"city": CityApi, "role": RoleApi}))
async def get_user(request, id: int):
    async with request.app.ctx.db.acquire(request, readonly=True) as conn:
        user = await conn.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", id)
    if user is None:
        raise NotFound(f"user {id} not found")
    # City and role come from two other services, fetched at the same time.
    await async_request(
        [
            (user, "city", get_city_by_id(request, user["city_id"])),
            (user, "role", get_role_by_id(request, user["role_id"])),
        ]
    )
    return user


@bp.get("/users")
@doc.summary("List users, a page at a time")
@doc.consumes(PAGING, location="query")
@doc.produces([Users], pagination=True)
async def list_users(request):
    page, size = page_args(request.args)
    async with request.app.ctx.db.acquire(request, readonly=True) as conn:
        total = await conn.fetchval("SELECT count(*) FROM users")
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2", size, (page - 1) * size
        )
    return rows, pagination(page, size, total)


@bp.put("/users/<id:int>")
@doc.summary("Change some of a user's fields")
@doc.consumes(USER_ID, location="path")
@doc.consumes(USER_BODY, partial=True)
@doc.produces(Users)
async def update_user(request, id: int):
    fields = user_fields(request.ctx.data, partial=True)
    # Column names come from FIELDS (our own constants); values are always parameters.
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
    async with request.app.ctx.db.transaction(request) as conn:
        user = await conn.fetchrow(
            f"UPDATE users SET {assignments} WHERE id = $1 RETURNING {COLUMNS}",
            id,
            *fields.values(),
        )
    if user is None:
        raise NotFound(f"user {id} not found")
    return user


@bp.delete("/users/<id:int>")
@doc.summary("Delete a user")
@doc.consumes(USER_ID, location="path")
@doc.produces({"id": int})
async def delete_user(request, id: int):
    async with request.app.ctx.db.transaction(request) as conn:
        deleted = await conn.fetchval("DELETE FROM users WHERE id = $1 RETURNING id", id)
    if deleted is None:
        raise NotFound(f"user {id} not found")
    return {"id": deleted}
