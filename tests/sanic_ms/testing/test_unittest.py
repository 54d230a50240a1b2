"""sanic_ms.testing.unittest: the unittest base of 2018 (APITestCase), as the seed wrote tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from examples.users.models import Users
from examples.users.server import create_app as create_users
from sanic_ms.testing import APITestCase, UnmockedCall, service_tables
from sanic_ms.tests import APITestCase as SeedAPITestCase

REPO = Path(__file__).resolve().parents[3]

# The plugin's `app` fixture serves this (a factory taking a settings dict).
sanic_app = "examples.users.server:create_app"


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
