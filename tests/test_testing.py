"""sanic_ms.testing: fake downstream services behind the real Client, handlers called by name,
the unittest base of 2018 and the pytest plugin's fixtures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest

from examples.users.models import Users
from examples.users.server import create_app as create_users
from sanic_ms import errors
from sanic_ms.client import Client
from sanic_ms.testing import APITestCase, MockServices, UnmockedCall, service_tables
from sanic_ms.tests import APITestCase as SeedAPITestCase

REPO = Path(__file__).resolve().parent.parent

# The plugin's `app` fixture serves this (a factory taking a settings dict).
sanic_app = "examples.users.server:create_app"


def client_for(mocks: MockServices, name: str = "cities", base: str = "http://cities:8000"):
    return Client(name, base, session_factory=mocks.session_factory)


# -- mocks behind the real Client ----------------------------------------------------------


async def test_a_path_mock_answers_and_records_the_call():
    mocks = MockServices()
    city = mocks.get("/cities/1", payload={"code": 0, "data": {"id": 1, "name": "Lisbon"}})
    client = client_for(mocks)
    assert await client.get("/cities/1", params={"lang": "pt"}) == {"id": 1, "name": "Lisbon"}
    assert city.call_count == 1
    call = city.calls[0]
    assert (call.method, call.url, call.params) == (
        "GET",
        "http://cities:8000/cities/1?lang=pt",
        {"lang": "pt"},
    )
    created = mocks.post("/cities", payload={"id": 2, "name": "Porto"})
    assert await client.post("/cities", json={"name": "Porto"}) == {"id": 2, "name": "Porto"}
    assert created.calls[0].json == {"name": "Porto"}
    assert [c.method for c in mocks.calls] == ["GET", "POST"]
    await client.close()


async def test_absolute_urls_queries_and_patterns_narrow_a_mock():
    mocks = MockServices()
    mocks.get("http://roles:8000/roles/1", payload={"id": 1, "name": "admin"})
    mocks.get("/cities?page=2", payload=["page two"])
    mocks.get(re.compile(r"/cities/\d+$"), payload={"id": 9})
    cities, roles = client_for(mocks), client_for(mocks, "roles", "http://roles:8000")
    assert await roles.get("/roles/1") == {"id": 1, "name": "admin"}
    with pytest.raises(UnmockedCall):
        await cities.get("/roles/1")  # the roles mock is for the roles service only
    assert await cities.get("/cities", params={"page": 2}) == ["page two"]
    with pytest.raises(UnmockedCall):
        await cities.get("/cities", params={"page": 3})
    assert await cities.get("/cities/42") == {"id": 9}


async def test_times_lets_a_later_mock_answer_the_next_call():
    mocks = MockServices()
    first = mocks.get("/cities/1", payload={"v": 1}, times=1)
    mocks.get("/cities/1", payload={"v": 2})
    client = client_for(mocks)
    assert [await client.get("/cities/1") for _ in range(3)] == [{"v": 1}, {"v": 2}, {"v": 2}]
    assert first.call_count == 1


async def test_statuses_and_exceptions_go_through_the_clients_error_mapping():
    mocks = MockServices()
    mocks.get("/cities/404", status=404, payload={"code": 404, "message": "city 404 not found"})
    mocks.get("/cities/500", status=500, body="boom", content_type="text/plain")
    mocks.get("/cities/down", exception=aiohttp.ClientConnectionError)
    mocks.get("/cities/slow", exception=TimeoutError())
    client = client_for(mocks)
    with pytest.raises(errors.DownstreamError) as missing:
        await client.get("/cities/404")
    assert missing.value.status_code == 404 and "city 404 not found" in missing.value.message
    with pytest.raises(errors.BadGateway, match="failed with 500"):
        await client.get("/cities/500")
    with pytest.raises(errors.BadGateway, match="could not be reached"):
        await client.get("/cities/down")
    with pytest.raises(errors.GatewayTimeout):
        await client.get("/cities/slow")


async def test_an_unregistered_call_names_its_method_and_url():
    mocks = MockServices()
    mocks.get("/cities/1", payload={})
    with pytest.raises(UnmockedCall) as failure:
        await client_for(mocks).delete("/cities/2")
    message = str(failure.value)
    assert "DELETE http://cities:8000/cities/2" in message and "GET /cities/1" in message
    assert [c.url for c in mocks.unmatched] == ["http://cities:8000/cities/2"]
    with pytest.raises(UnmockedCall, match="DELETE http://cities:8000/cities/2"):
        mocks.check()


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
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "error" not in run.stdout.splitlines()[-1]
    assert re.search(r"no mock registered for downstream call GET http://\S+/roles/5", run.stdout)


# -- the unittest base, as the 2018 seed wrote its tests --------------------------------------


class TestSeedStyle(APITestCase):
    _app = sanic_app
    _blueprint = "users"
    _models = [Users]

    def setUp(self):
        super().setUp()
        self.city = self._mock.get("/cities/1", payload={"id": 1, "name": "Shanghai"})
        self._mock.get("/roles/1", payload={"id": 1, "name": "admin"})

    def test_create_user(self):
        data = {"name": "test", "age": 2, "city_id": 1, "role_id": 1}
        res = self.client.create_user(data=data)
        self.assertEqual(res.status, 200)
        self.assertEqual(res.json["code"], 0)
        status, body = self.client.get_user(id=res.data["id"])
        self.assertEqual(status, 200)
        self.assertEqual(body["data"]["city"]["name"], "Shanghai")
        self.assertEqual(self.city.call_count, 1)

    def test_mocks_are_fresh_in_each_test(self):
        self.assertEqual(self.city.call_count, 0)
        self.assertEqual(self._mock.calls, [])

    def test_a_bad_body_and_an_unmocked_call(self):
        res = self.client.create_user(data={"name": "test"})
        self.assertEqual(res.status, 400)
        self.assertEqual(
            res.json["error"], {"age": "required", "city_id": "required", "role_id": "required"}
        )
        res = self.client.create_user(data={"name": "x", "age": 1, "city_id": 3, "role_id": 1})
        with self.assertRaisesRegex(UnmockedCall, r"GET http://\S+/cities/3"):
            self.client.get_user(id=res.data["id"])


# -- without _models, as the seed wrote it: the service's own tables -----------------------------


class TestSeedStyleWithoutModels(SeedAPITestCase):
    """The seed's test never set ``_models``: the service's migrations make its tables."""

    _app = "examples.users.server:create_app"
    _blueprint = "users"

    def setUp(self):
        super().setUp()
        self._mock.get("/cities/1", payload={"id": 1, "name": "Shanghai"})
        self._mock.get("/roles/1", payload={"id": 1, "name": "admin"})

    def test_create_user(self):
        data = {"name": "test", "age": 2, "city_id": 1, "role_id": 1}
        res = self.client.create_user(data=data)
        self.assertEqual(res.status, 200, res.text)
        status, body = self.client.get_user(id=res.data["id"])
        self.assertEqual(status, 200)
        self.assertEqual(body["data"]["city"]["name"], "Shanghai")
        self.assertIsNotNone(body["data"]["create_time"])

    def test_the_migrations_ran_and_were_recorded(self):
        rows = self.run_async(
            self.db.fetch("SELECT version FROM migrate_record WHERE table_name = 'users'")
        )
        self.assertEqual(sorted(row["version"] for row in rows), ["v1", "v2"])


# `from server import app`: an app object, whose handlers say which service it is.
USERS_APP = create_users()


class TestSeedStyleWithAnAppObject(SeedAPITestCase):
    _app = USERS_APP
    _blueprint = "users"

    def test_list_users_finds_its_table(self):
        status, body = self.client.list_users()
        self.assertEqual(status, 200, body)
        self.assertEqual(body["data"], [])


def test_service_tables_fall_back_to_the_models_module(tmp_path, monkeypatch):
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        textwrap.dedent(
            """
            import peewee

            class Items(peewee.Model):
                name = peewee.CharField()

                class Meta:
                    table_name = "items"
            """
        )
    )
    (package / "server.py").write_text("def create_app(settings=None): ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    [model] = service_tables("shop.server:create_app")

    assert model.__name__ == "Items"
    assert [cls.__name__ for cls in service_tables(create_users)] == ["UserMigration"]
    assert service_tables("json:loads") == []
