"""Fixtures for the example services' tests: the three services on loopback ports."""

from __future__ import annotations

import contextlib

import aiohttp
import pytest

from examples.cities.server import create_app as create_cities
from examples.roles.server import create_app as create_roles
from examples.users.server import create_app as create_users
from sanic_ms.serve import free_port, serve


class Api:
    """A tiny HTTP client for tests: ``status, body = await api.get("/users/1")``."""

    def __init__(self, session: aiohttp.ClientSession, base: str):
        self.session, self.base = session, base

    async def request(self, method: str, path: str, **kwargs):
        async with self.session.request(method, self.base + path, **kwargs) as response:
            return response.status, await response.json()

    async def get(self, path, **kw):
        return await self.request("GET", path, **kw)

    async def post(self, path, **kw):
        return await self.request("POST", path, **kw)

    async def put(self, path, **kw):
        return await self.request("PUT", path, **kw)

    async def delete(self, path, **kw):
        return await self.request("DELETE", path, **kw)


@contextlib.asynccontextmanager
async def running_services(dsn: str, *, with_downstreams: bool = True, **settings):
    """users, and (unless told otherwise) cities and roles, served over real loopback HTTP."""
    cities_port, roles_port = free_port(), free_port()
    base = {"DATABASE_URL": dsn, "DB_MIN_SIZE": 1, **settings}
    users = create_users(
        {
            **base,
            "SERVICES": {
                "cities": f"http://127.0.0.1:{cities_port}",
                "roles": f"http://127.0.0.1:{roles_port}",
            },
        }
    )
    async with contextlib.AsyncExitStack() as stack:
        if with_downstreams:
            await stack.enter_async_context(serve(create_cities(base), port=cities_port))
            await stack.enter_async_context(serve(create_roles(base), port=roles_port))
        users_url = await stack.enter_async_context(serve(users))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        yield (
            Api(session, users_url),
            Api(session, f"http://127.0.0.1:{cities_port}"),
            Api(session, f"http://127.0.0.1:{roles_port}"),
        )


@pytest.fixture
async def services(example_tables):
    async with running_services(example_tables) as apis:
        yield apis


@pytest.fixture
def start_services():
    """``running_services`` itself, for a test that starts them its own way (a fixture, so that no
    example imports this conftest back)."""
    return running_services
