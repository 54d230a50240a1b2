"""Tests for the users service with its cities and roles services mocked (lab 06's solution).

Lab 06 asks students to write these: ``labs/06/check_users.py`` is this file with the test bodies
replaced by TODOs. The grader runs them against the real users service (they must pass) and
against copies of it with planted bugs (``labs/06/tests/users_variants.py``; each must be caught).
Run alone: ``pytest examples/users/check_users.py``.
"""

from __future__ import annotations

import pytest

from examples.users.models import Users

# The app the `app` and `client` fixtures of sanic_ms.testing serve (the grader swaps in others).
sanic_app = "examples.users.server:create_app"

LISBON = {"id": 1, "name": "Lisbon"}
ADMIN = {"id": 2, "name": "admin"}


@pytest.fixture
async def users(db):
    """An empty users table in the test database."""
    await db.create_tables(Users)
    await db.execute("TRUNCATE users RESTART IDENTITY")
    return db


async def add_user(db, **fields):
    """Insert a user straight into the database; its id."""
    row = {"name": "Ada", "age": 36, "sex": "f", "city_id": 1, "role_id": 2, **fields}
    return await db.fetchval(
        "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id",
        *row.values(),
    )


@pytest.mark.task(3)
async def test_a_user_comes_with_its_city_and_role(client, mock_services, users):
    # BEGIN SOLUTION task 3: insert a user, mock GET /cities/1 and /roles/2, check the answer
    user_id = await add_user(users, city_id=1, role_id=2)
    city = mock_services.get("/cities/1", payload={"code": 0, "data": LISBON})
    role = mock_services.get("/roles/2", payload={"code": 0, "data": ADMIN})
    status, body = await client.get_user(id=user_id)
    assert status == 200, body
    user = body["data"]
    assert (user["id"], user["name"], user["age"]) == (user_id, "Ada", 36)
    assert user["city"] == LISBON
    assert user["role"] == ADMIN
    assert city.call_count == 1 and role.call_count == 1
    # END SOLUTION


@pytest.mark.task(3)
async def test_an_unknown_user_is_a_404(client, mock_services, users):
    # BEGIN SOLUTION task 3: ask for a user that does not exist: a 404 error envelope, no calls
    status, body = await client.get_user(id=4242)
    assert status == 404, body
    assert body["code"] != 0 and "4242" in body["message"]
    assert mock_services.calls == []
    # END SOLUTION


@pytest.mark.task(4)
async def test_created_users_are_listed_a_page_at_a_time(client, users):
    # BEGIN SOLUTION task 4: create 3 users with POST, list with size 2: 2 rows, total 3
    for name in ("Ada", "Bob", "Cy"):
        status, body = await client.create_user(
            data={"name": name, "age": 30, "city_id": 1, "role_id": 2}
        )
        assert status == 200, body
        assert body["data"]["name"] == name
    status, body = await client.list_users(params={"page": 1, "size": 2})
    assert status == 200, body
    assert [row["name"] for row in body["data"]] == ["Ada", "Bob"]
    assert body["pagination"]["total"] == 3
    assert body["pagination"]["page"] == 1 and body["pagination"]["size"] == 2
    # END SOLUTION


@pytest.mark.task(4)
async def test_a_user_without_a_name_is_refused(client, users):
    # BEGIN SOLUTION task 4: POST a user without name: a 400 error envelope, and nothing saved
    status, body = await client.create_user(data={"age": 30, "city_id": 1, "role_id": 2})
    assert status == 400, body
    assert body["code"] != 0
    assert await users.fetchval("SELECT count(*) FROM users") == 0
    # END SOLUTION
