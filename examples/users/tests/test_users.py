"""The users service end to end: real PostgreSQL, real cities and roles over loopback HTTP."""

from __future__ import annotations

import pytest


@pytest.fixture
async def city_and_role(services):
    _, cities, roles = services
    _, city = await cities.post("/cities", json={"name": f"city-{id(cities)}"})
    _, role = await roles.post("/roles", json={"name": f"role-{id(roles)}"})
    return city["data"]["id"], role["data"]["id"]


async def create(users, city_id, role_id, **overrides):
    body = {
        "name": "Ada",
        "age": 36,
        "sex": "f",
        "city_id": city_id,
        "role_id": role_id,
        **overrides,
    }
    status, created = await users.post("/users", json=body)
    assert status == 200, created
    return created["data"]


async def test_create_then_fetch_with_city_and_role(services, city_and_role):
    users, _, _ = services
    city_id, role_id = city_and_role
    created = await create(users, city_id, role_id)
    status, body = await users.get(f"/users/{created['id']}")
    assert status == 200
    user = body["data"]
    assert (user["name"], user["age"]) == ("Ada", 36)
    assert user["city"] == {"id": city_id, "name": f"city-{id(services[1])}"}
    assert user["role"]["id"] == role_id


async def test_missing_user_is_a_404(services):
    users, _, _ = services
    assert await users.get("/users/987654") == (
        404,
        {"code": 404, "message": "user 987654 not found", "error": None},
    )


async def test_invalid_user_lists_every_wrong_field(services):
    users, _, _ = services
    status, body = await users.post("/users", json={"name": 3, "age": "old", "extra": 1})
    assert status == 400
    assert body["error"] == {
        "name": "must be a string",
        "age": "must be an integer",
        "city_id": "required",
        "role_id": "required",
        "extra": "unknown field",
    }


async def test_paging(services, city_and_role):
    users, _, _ = services
    for n in range(3):
        await create(users, *city_and_role, name=f"pager-{n}")
    status, body = await users.get("/users?page=2&size=2")
    assert status == 200
    assert len(body["data"]) <= 2
    assert body["pagination"]["page"] == 2 and body["pagination"]["size"] == 2
    assert body["pagination"]["total"] >= 3
    status, body = await users.get("/users?page=0&size=abc")
    assert status == 400
    assert body["error"] == {"page": "must be >= 1", "size": "must be an integer, got 'abc'"}


async def test_update_and_delete(services, city_and_role):
    users, _, _ = services
    created = await create(users, *city_and_role)
    status, body = await users.put(f"/users/{created['id']}", json={"age": 37})
    assert status == 200 and body["data"]["age"] == 37 and body["data"]["name"] == "Ada"
    assert (await users.delete(f"/users/{created['id']}")) == (
        200,
        {"code": 0, "data": {"id": created["id"]}},
    )
    assert (await users.get(f"/users/{created['id']}"))[0] == 404
    assert (await users.delete(f"/users/{created['id']}"))[0] == 404
    assert (await users.put("/users/987654", json={"age": 1}))[0] == 404


async def test_sql_injection_attempts_change_nothing(services, city_and_role):
    users, _, _ = services
    before = (await users.get("/users?size=100"))[1]["pagination"]["total"]
    evil = "x'); DROP TABLE users; --"
    created = await create(users, *city_and_role, name=evil)
    assert created["name"] == evil  # stored as text, not run
    status, _ = await users.get("/users?page=1;DROP TABLE users")
    assert status == 400
    status, _ = await users.get("/users/1%20OR%201=1")
    assert status == 404
    after = (await users.get("/users?size=100"))[1]["pagination"]["total"]
    assert after == before + 1


async def test_unknown_city_keeps_the_downstream_404(services, city_and_role):
    users, _, _ = services
    created = await create(users, 999999, city_and_role[1])
    status, body = await users.get(f"/users/{created['id']}")
    assert status == 404
    assert body["message"] == "cities answered 404: city 999999 not found"


async def test_downstreams_down_is_a_502_not_a_crash(example_tables, start_services):
    async with start_services(example_tables, with_downstreams=False) as (users, _, _):
        status, created = await users.post(
            "/users", json={"name": "Solo", "age": 1, "city_id": 1, "role_id": 1}
        )
        assert status == 200  # writing a user needs no other service
        status, body = await users.get(f"/users/{created['data']['id']}")
    assert status == 502
    assert body["code"] == 502 and body["error"]["service"] in {"cities", "roles"}
