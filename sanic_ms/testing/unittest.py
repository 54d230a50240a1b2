"""The 2018 sanic-ms test base for unittest: ``APITestCase``, the app served once per class.

::

    class TestUsers(APITestCase):
        _app = create_app          # an app, or a factory taking a settings dict
        _blueprint = "users"
        _models = [Users]          # optional: by default the service's migrations run

        def setUp(self):
            super().setUp()
            self._mock.get("/cities/1", payload={"id": 1, "name": "Shanghai"})

        def test_create_user(self):
            res = self.client.create_user(data={"name": "test", "age": 2, ...})
            self.assertEqual(res.status, 200)

Its database is created on the server ``DATABASE_URL`` names, and dropped after the class.
"""

from __future__ import annotations

import asyncio
import contextlib
import unittest
from collections.abc import Awaitable, Iterable
from typing import Any, ClassVar, TypeVar

import aiohttp
from sanic import Sanic

from .. import migrations
from ..dsn import create_database, drop_database
from ..serve import serve
from .app import allow_same_name_apps, load_app, service_tables
from .client import AsyncAPIClient, SyncAPIClient
from .database import TestDatabase, server_url
from .fakes import MockServices

T = TypeVar("T")


class APITestCase(unittest.TestCase):
    """The 2018 sanic-ms test base: the app served once per class on a fresh database.

    Class attributes: ``_app`` (an app, a factory taking a settings dict, or "module:attr"),
    ``_blueprint`` (call only its handlers), ``_models`` (tables to create; by default the
    service's own, from its migrations or else its models: see :func:`service_tables`),
    ``_settings`` (extra settings). In tests: ``self._mock`` registers downstream answers (reset
    before each test), ``self.client.<handler>(data=..., params=..., **route_params)`` calls the
    app, ``self.db`` reaches its database.
    """

    _app: ClassVar[Any] = None
    _blueprint: ClassVar[str | None] = None
    _models: ClassVar[Iterable[Any]] = ()
    _settings: ClassVar[dict[str, Any]] = {}

    # Set up once per class by setUpClass.
    app: ClassVar[Sanic[Any, Any]]
    _stack: ClassVar[contextlib.ExitStack]
    _runner: ClassVar[asyncio.Runner]
    _database: ClassVar[TestDatabase]
    _mocks: ClassVar[MockServices]
    _client: ClassVar[SyncAPIClient]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls._app is None:
            raise unittest.SkipTest(f"{cls.__name__} sets no _app")
        cls._stack = contextlib.ExitStack()
        try:
            cls._start()
        except BaseException:
            cls._stack.close()
            raise

    @classmethod
    def _start(cls) -> None:
        allow_same_name_apps()  # every test class builds its service's app again
        server = server_url()
        runner = asyncio.Runner()
        cls._stack.callback(runner.close)
        cls._runner = runner
        dsn = runner.run(create_database("test_apitestcase", admin=server))
        cls._stack.callback(lambda: asyncio.run(drop_database(dsn, admin=server)))
        cls._database = TestDatabase(dsn)
        if cls._models:
            runner.run(cls._database.create_tables(*cls._models))
        else:  # as the seed wrote its tests: the service's own tables, from its migrations
            found = service_tables(cls._app)
            classes = [c for c in found if issubclass(c, migrations.MigrationModel)]
            if classes:
                migrations.apply(classes, dsn)
            elif found:
                runner.run(cls._database.create_tables(*found))
        app = load_app(cls._app, {**cls._settings, "DATABASE_URL": dsn})
        cls._mocks = MockServices()
        cls._mocks.install(app)
        cls.app = app

        async def start() -> tuple[contextlib.AsyncExitStack, AsyncAPIClient]:
            stack = contextlib.AsyncExitStack()
            url = await stack.enter_async_context(serve(app))
            session = await stack.enter_async_context(aiohttp.ClientSession())
            return stack, AsyncAPIClient(app, url, session, cls._mocks, cls._blueprint)

        stack, client = runner.run(start())
        cls._stack.callback(lambda: runner.run(stack.aclose()))
        cls._client = SyncAPIClient(runner, client)

    @classmethod
    def tearDownClass(cls) -> None:
        stack = getattr(cls, "_stack", None)
        if stack is not None:
            stack.close()
        super().tearDownClass()

    def setUp(self) -> None:
        super().setUp()
        self._mocks.reset()
        self._mock = self._mocks
        self.client = self._client
        self.db = self._database

    def run_async(self, awaitable: Awaitable[T]) -> T:
        """Run a coroutine on the app's loop (for ``self.db.fetch(...)`` and the like)."""
        return self._runner.run(_wrap(awaitable))


async def _wrap(awaitable: Awaitable[T]) -> T:
    return await awaitable  # Runner.run takes a coroutine; this takes any awaitable too


__all__ = ["APITestCase"]
