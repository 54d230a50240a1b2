"""sanic_ms.testing.plugin: the pytest fixtures app, client, mock_services and db."""

from __future__ import annotations

import os
import re
import textwrap

import pytest

from examples.users.models import Users
from tests.sanic_ms.testing.support import REPO, run_pytest

# The plugin's `app` fixture serves this (a factory taking a settings dict).
sanic_app = "examples.users.server:create_app"


# -- the pytest plugin: app, client, mock_services, db ----------------------------------------


async def add_user(db, city_id: int = 1, role_id: int = 2) -> int:
    await db.create_tables(Users)
    return await db.fetchval(
        "INSERT INTO users (name, age, city_id, role_id) VALUES ('Ada', 36, $1, $2) RETURNING id",
        city_id,
        role_id,
    )


async def test_fixtures_serve_the_app_with_mocked_services_and_a_real_database(
    client, mock_services, db
):
    user_id = await add_user(db)
    city = mock_services.get("/cities/1", payload={"id": 1, "name": "Lisbon"}, delay=0.05)
    role = mock_services.get("/roles/2", payload={"id": 2, "name": "admin"}, delay=0.05)
    status, body = await client.get_user(id=user_id)
    assert status == 200
    assert body["data"]["city"] == {"id": 1, "name": "Lisbon"}
    assert body["data"]["role"] == {"id": 2, "name": "admin"}
    assert city.call_count == role.call_count == 1
    assert city.calls[0].url.endswith("/cities/1")

    created = await client.create_user(data={"name": "Bo", "age": 7, "city_id": 1, "role_id": 2})
    assert created.status == 200 and created.data["name"] == "Bo"
    assert await db.fetchval("SELECT name FROM users WHERE id = $1", created.data["id"]) == "Bo"
    listed = await client.list_users(params={"size": 1})
    assert listed.status == 200 and listed.json["pagination"]["size"] == 1


async def test_a_downstream_error_reaches_the_client_as_the_services_answer(
    client, mock_services, db
):
    user_id = await add_user(db, city_id=77)
    mock_services.get("/cities/77", status=404, payload={"code": 404, "message": "no city 77"})
    mock_services.get("/roles/2", payload={"id": 2, "name": "admin"})
    status, body = await client.get_user(id=user_id)
    assert status == 404 and "no city 77" in body["message"]


async def test_handlers_are_called_by_name_with_clear_mistakes(client):
    with pytest.raises(AttributeError, match=r"no handler named 'get_usr'.*get_user"):
        await client.get_usr(id=1)
    with pytest.raises(TypeError, match=r"get_user\(\) needs route parameter\(s\) id"):
        await client.get_user()
    with pytest.raises(TypeError, match="unexpected keyword"):
        await client.get_user(id=1, uid=2)
    raw = await client.request("GET", "/users/0")
    assert raw.status == 404


def test_an_unmocked_call_in_a_test_fails_it_naming_method_and_url(tmp_path):
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\naddopts = -p sanic_ms.testing\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            from examples.users.models import Users

            sanic_app = "examples.users.server:create_app"

            async def test_forgets_the_roles_mock(client, mock_services, db):
                await db.create_tables(Users)
                user = await db.fetchval(
                    "INSERT INTO users (name, age, city_id, role_id) "
                    "VALUES ('Ada', 36, 1, 5) RETURNING id"
                )
                mock_services.get("/cities/1", payload={"id": 1, "name": "Lisbon"})
                await client.get_user(id=user)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOG_LEVEL": "CRITICAL"}
    run = run_pytest(tmp_path, env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "error" not in run.stdout.splitlines()[-1]
    assert re.search(r"no mock registered for downstream call GET http://\S+/roles/5", run.stdout)
