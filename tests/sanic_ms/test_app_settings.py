"""``create_app``: the settings it layers, and the resources it opens and closes with the server."""

from __future__ import annotations

import aiohttp
import pytest

from sanic_ms import create_app
from sanic_ms.db import Database, DatabaseUnavailable
from sanic_ms.serve import free_port, serve

URL = {"DATABASE_URL": "postgresql://app@127.0.0.1/app"}  # nothing connects until a server starts


def test_settings_layer_defaults_then_the_service_then_environment_then_arguments(monkeypatch):
    monkeypatch.delenv("CLIENT_TIMEOUT", raising=False)
    service = {"CLIENT_TIMEOUT": 2.0, "GREETING": "hello"}
    assert create_app("layers_a", URL, defaults=service).config.CLIENT_TIMEOUT == 2.0
    assert create_app("layers_b", URL).config.CLIENT_TIMEOUT == 5.0  # sanic_ms.settings
    monkeypatch.setenv("CLIENT_TIMEOUT", "3")
    app = create_app("layers_c", URL, defaults=service)
    assert app.config.CLIENT_TIMEOUT == 3.0 and app.config.GREETING == "hello"
    app = create_app("layers_d", {**URL, "CLIENT_TIMEOUT": 4.0}, defaults=service)
    assert app.config.CLIENT_TIMEOUT == 4.0


@pytest.mark.parametrize("name", ["9lives", "my app", "", "users/v2"])
def test_a_name_sanic_cannot_take_is_refused_saying_what_is_allowed(name):
    with pytest.raises(ValueError, match="a letter, then letters, digits, _ or -"):
        create_app(name, URL)


async def test_the_pool_opens_with_the_server_and_closes_after_it(database_url):
    app = create_app("app_pool", {"DATABASE_URL": database_url, "DB_MAX_SIZE": 2})

    @app.get("/answer")
    async def answer(request):
        async with request.app.ctx.db.acquire(request) as conn:
            return {"answer": await conn.fetchval("SELECT 40 + 2")}

    assert getattr(app.ctx, "db", None) is None  # nothing connects at build time
    async with serve(app) as url, aiohttp.ClientSession() as session:
        db = app.ctx.db
        assert isinstance(db, Database) and db.max_size == 2
        async with session.get(url + "/answer") as response:
            assert (response.status, await response.json()) == (
                200,
                {"code": 0, "data": {"answer": 42}},
            )
    assert db.pool is None  # closed when the server stopped


async def test_each_configured_downstream_gets_a_client_by_name(database_url):
    services = {"cities": "http://127.0.0.1:1", "roles": "http://127.0.0.1:2"}
    app = create_app("app_clients", {"DATABASE_URL": database_url, "SERVICES": services})
    async with serve(app):
        clients = app.ctx.clients
        assert sorted(clients) == ["cities", "roles"]
        assert clients.cities is clients["cities"]
        with pytest.raises(KeyError, match="configured: cities, roles"):
            clients["users"]


async def test_unknown_routes_and_the_spec_are_wired_in(database_url):
    app = create_app("app_wired", {"DATABASE_URL": database_url})
    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/nowhere") as response:
            body = await response.json()
            assert response.status == 404 and body["code"] == 404
            assert body["message"].startswith("Not found")
        async with session.get(url + "/openapi/spec.json") as response:
            assert response.status == 200
            assert (await response.json())["openapi"].startswith("3.")


async def test_a_database_that_cannot_be_reached_stops_the_start_naming_it_without_the_password():
    dsn = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/nowhere"
    app = create_app("app_no_db", {"DATABASE_URL": dsn})
    with pytest.raises(DatabaseUnavailable) as caught:
        async with serve(app):
            pass
    message = str(caught.value)
    assert "cannot connect to PostgreSQL at" in message and "127.0.0.1" in message
    assert "s3cret" not in message
