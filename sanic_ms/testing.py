"""Test helpers: fake downstream services, a client that calls handlers by name, a fresh database.

Downstream services are faked where our ``sanic_ms.client.Client`` meets aiohttp: the app gets a
fake session (``app.ctx.session_factory``), so the client's own code (URL building, error mapping,
envelope unwrapping) still runs, and nothing patches call sites. A call nobody registered fails
the test, naming its method and URL. Each mock records the calls it answered.

pytest (the plugin is on for this repository; see ``pyproject.toml``)::

    sanic_app = "examples.users.server:create_app"   # or define your own `app` fixture

    async def test_get_user(client, mock_services, db):
        await db.execute("INSERT INTO users ...")
        city = mock_services.get("/cities/1", payload={"id": 1, "name": "Lisbon"})
        mock_services.get("/roles/1", payload={"id": 1, "name": "admin"})
        status, body = await client.get_user(id=1)
        assert status == 200 and body["data"]["city"]["name"] == "Lisbon"
        assert city.call_count == 1

unittest, as in the 2018 sanic-ms::

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
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import re
import sys
import unittest
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from sanic import Sanic
from yarl import URL

from . import migrations
from .dsn import create_database, drop_database
from .migrations import create_table_sql
from .serve import serve

# -- fake downstream services -------------------------------------------------------------------


class UnmockedCall(AssertionError):
    """A downstream call that no registered mock answers."""


@dataclass
class Call:
    """One downstream call a mock answered (or that nobody answered)."""

    method: str
    url: str
    params: dict[str, str]
    json: Any
    headers: dict[str, str]


def _query(url: URL) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(url.query.items()))


@dataclass
class Mock:
    """A registered answer: ``status`` and ``payload`` (JSON) or ``body``, or an ``exception``."""

    method: str
    url: str | re.Pattern
    status: int = 200
    payload: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] | None = None
    exception: BaseException | type[BaseException] | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    times: int | None = None  # answer this many calls, then let later mocks answer
    calls: list[Call] = field(default_factory=list)

    @property
    def called(self) -> bool:
        return bool(self.calls)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and len(self.calls) >= self.times

    def matches(self, method: str, url: URL) -> bool:
        # BEGIN SOLUTION task 1: same method; then a regex search, or same host (if given) and path
        if method != self.method:
            return False
        if isinstance(self.url, re.Pattern):
            return bool(self.url.search(str(url)))
        wanted = URL(self.url)
        if wanted.is_absolute():
            if (wanted.scheme, wanted.host, wanted.port) != (url.scheme, url.host, url.port):
                return False
        if wanted.path.rstrip("/") != url.path.rstrip("/"):
            return False
        # A registered query must be there exactly; without one, any query matches.
        return not wanted.query or _query(wanted) == _query(url)
        # END SOLUTION

    def describe(self) -> str:
        shown = self.url.pattern if isinstance(self.url, re.Pattern) else self.url
        return f"{self.method} {shown}"

    def raw_body(self) -> bytes:
        if self.body is not None:
            return self.body.encode() if isinstance(self.body, str) else bytes(self.body)
        if self.payload is None:
            return b""
        return orjson.dumps(self.payload)


class FakeResponse:
    """What the fake session answers: the parts of ``aiohttp.ClientResponse`` our client reads."""

    def __init__(self, method: str, url: URL, mock: Mock):
        self.method, self.url, self.status = method, url, mock.status
        headers = CIMultiDict({"Content-Type": mock.content_type})
        headers.update(mock.headers or {})
        self.headers = CIMultiDictProxy(headers)
        self.content_type = mock.content_type
        self._body = mock.raw_body()
        self.ok = self.status < 400

    async def read(self) -> bytes:
        return self._body

    async def text(self, encoding: str = "utf-8") -> str:
        return self._body.decode(encoding)

    async def json(self, **_: Any) -> Any:
        return orjson.loads(self._body) if self._body else None

    def release(self) -> None:
        pass

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise aiohttp.ClientResponseError(None, (), status=self.status)  # type: ignore[arg-type]


class _Pending:
    """``session.request(...)``: usable with ``async with`` or ``await``, like aiohttp's."""

    def __init__(self, answer):
        self._answer = answer

    def __await__(self):
        return self._answer().__await__()

    async def __aenter__(self) -> FakeResponse:
        return await self._answer()

    async def __aexit__(self, *exc: Any) -> None:
        return None


class FakeSession:
    """Stands in for ``aiohttp.ClientSession`` inside one ``Client``; answers from the mocks."""

    def __init__(self, services: MockServices, client: Any = None):
        self._services = services
        self._client = client
        self.closed = False

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Any = None,
        **_: Any,
    ) -> _Pending:
        method = method.upper()
        target = URL(url)
        if params:
            target = target.update_query({k: str(v) for k, v in dict(params).items()})
        call = Call(method, str(target), dict(target.query), json, dict(headers or {}))

        async def answer() -> FakeResponse:
            mock = self._services.find(call, target)
            if mock.delay:
                await asyncio.sleep(mock.delay)
            if mock.exception is not None:
                exc = mock.exception
                raise exc() if isinstance(exc, type) else exc
            return FakeResponse(method, target, mock)

        return _Pending(answer)

    def get(self, url: str, **kwargs: Any) -> _Pending:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> _Pending:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> _Pending:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> _Pending:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> _Pending:
        return self.request("DELETE", url, **kwargs)

    async def close(self) -> None:
        self.closed = True


class MockServices:
    """The fake downstream services of one test: register answers, then read what was called.

    ``url`` is a path (``"/cities/1"``: any service), an absolute URL (one service), or a compiled
    regex searched in the full URL. Mocks are tried in the order they were registered.
    """

    def __init__(self) -> None:
        self.mocks: list[Mock] = []
        self.calls: list[Call] = []
        self.unmatched: list[Call] = []
        self._reported = 0  # unmatched calls already raised by check()

    def add(self, method: str, url: str | re.Pattern, **answer: Any) -> Mock:
        mock = Mock(method.upper(), url, **answer)
        self.mocks.append(mock)
        return mock

    def get(self, url: str | re.Pattern, **answer: Any) -> Mock:
        return self.add("GET", url, **answer)

    def post(self, url: str | re.Pattern, **answer: Any) -> Mock:
        return self.add("POST", url, **answer)

    def put(self, url: str | re.Pattern, **answer: Any) -> Mock:
        return self.add("PUT", url, **answer)

    def patch(self, url: str | re.Pattern, **answer: Any) -> Mock:
        return self.add("PATCH", url, **answer)

    def delete(self, url: str | re.Pattern, **answer: Any) -> Mock:
        return self.add("DELETE", url, **answer)

    def reset(self) -> None:
        self.mocks.clear()
        self.calls.clear()
        self.unmatched.clear()
        self._reported = 0

    def find(self, call: Call, url: URL) -> Mock:
        # BEGIN SOLUTION task 2: record the call, answer with the first matching mock not used up
        self.calls.append(call)
        for mock in self.mocks:
            if not mock.exhausted and mock.matches(call.method, url):
                mock.calls.append(call)
                return mock
        self.unmatched.append(call)
        raise UnmockedCall(self._unmatched_message([call]))
        # END SOLUTION

    def _unmatched_message(self, calls: Iterable[Call]) -> str:
        lines = [f"no mock registered for downstream call {c.method} {c.url}" for c in calls]
        known = ", ".join(m.describe() for m in self.mocks) or "none"
        lines.append(f"registered mocks: {known}")
        lines.append('register one, e.g. mock_services.get("/cities/1", payload={...})')
        return "\n".join(lines)

    def check(self) -> None:
        """Raise UnmockedCall for downstream calls that found no mock, once per call."""
        fresh = self.unmatched[self._reported :]
        self._reported = len(self.unmatched)
        if fresh:
            raise UnmockedCall(self._unmatched_message(fresh))

    def session_factory(self, client: Any = None) -> FakeSession:
        """For ``app.ctx.session_factory``: every ``Client`` of the app gets a fake session."""
        return FakeSession(self, client)

    def install(self, app: Sanic) -> None:
        """Make ``app``'s clients use these mocks (before the app starts)."""
        app.ctx.session_factory = self.session_factory


# -- calling handlers by name -------------------------------------------------------------------

_URI_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass
class APIResponse:
    """What a handler answered: ``status``, the parsed JSON ``json`` (the envelope), headers."""

    status: int
    json: Any
    headers: CIMultiDictProxy
    text: str

    @property
    def data(self) -> Any:
        return self.json.get("data") if isinstance(self.json, dict) else None

    def __iter__(self) -> Iterator[Any]:
        # status, body = await client.get_user(id=1)
        return iter((self.status, self.json))


@dataclass
class Endpoint:
    """One route, as the handler-name client sees it."""

    name: str
    methods: list[str]
    uri: str
    params: list[str]

    def url(self, values: dict[str, Any]) -> str:
        missing = [p for p in self.params if p not in values]
        if missing:
            raise TypeError(f"{self.name}() needs route parameter(s) {', '.join(missing)}")
        return _URI_PARAM.sub(lambda m: str(values[m.group(1)]), self.uri)


def endpoints(app: Sanic, blueprint: str | None = None) -> dict[str, Endpoint]:
    """Routes by handler name (and by route name), optionally only one blueprint's."""
    found: dict[str, Endpoint] = {}
    ambiguous: set[str] = set()
    routes = app.router.routes
    if blueprint is not None:
        if blueprint not in app.blueprints:
            known = ", ".join(sorted(app.blueprints)) or "none"
            raise LookupError(f"the app has no blueprint {blueprint!r} (blueprints: {known})")
        routes = [r for r in app.blueprints[blueprint].routes]
    for route in routes:
        if getattr(route.extra, "static", False):
            continue
        parts = route.name.split(".")
        methods = sorted(set(route.methods) - _IGNORED_METHODS) or sorted(route.methods)
        uri = route.uri if route.uri.startswith("/") else "/" + route.uri
        names = {parts[-1], getattr(route.handler, "__name__", parts[-1])}
        for name in names:
            endpoint = Endpoint(name, methods, uri, _URI_PARAM.findall(route.uri))
            if name in found and found[name].uri != uri:
                ambiguous.add(name)
            found.setdefault(name, endpoint)
    for name in ambiguous:
        found.pop(name)
    return found


class AsyncAPIClient:
    """Calls an app served on loopback by handler name: ``await client.create_user(data=...)``.

    ``data`` is the JSON body, ``params`` the query string, ``headers`` extra headers, ``method``
    picks one when a route has several; every other keyword fills a route parameter.
    """

    def __init__(
        self,
        app: Sanic,
        base_url: str,
        session: aiohttp.ClientSession,
        mocks: MockServices | None = None,
        blueprint: str | None = None,
    ):
        self.app, self.url, self.session, self.mocks = app, base_url, session, mocks
        self._blueprint = blueprint
        self._endpoints: dict[str, Endpoint] | None = None

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        if self._endpoints is None:
            self._endpoints = endpoints(self.app, self._blueprint)
        return self._endpoints

    async def request(
        self,
        method: str,
        path: str,
        *,
        data: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> APIResponse:
        """A raw call: ``await client.request("GET", "/users/1")``."""
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if data is not None:
            kwargs["data"] = data if isinstance(data, bytes | str) else orjson.dumps(data)
            kwargs["headers"] = {"Content-Type": "application/json", **(headers or {})}
        async with self.session.request(method, self.url + path, **kwargs) as response:
            text = await response.text()
            try:
                parsed = orjson.loads(text) if text else None
            except orjson.JSONDecodeError:
                parsed = None
            result = APIResponse(response.status, parsed, response.headers, text)
        if self.mocks is not None:
            self.mocks.check()  # an unmocked downstream call fails here, not as a bare 500
        return result

    async def call(self, name: str, **kwargs: Any) -> APIResponse:
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            where = f" in blueprint {self._blueprint!r}" if self._blueprint else ""
            known = ", ".join(sorted(self.endpoints)) or "none"
            raise AttributeError(f"no handler named {name!r}{where}; handlers: {known}")
        method = kwargs.pop("method", None)
        if method is None:
            if len(endpoint.methods) > 1:
                raise TypeError(f"{name}() serves {endpoint.methods}: pass method=...")
            method = endpoint.methods[0]
        options = {k: kwargs.pop(k) for k in ("data", "params", "headers") if k in kwargs}
        unknown = set(kwargs) - set(endpoint.params)
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword(s) {', '.join(sorted(unknown))}")
        return await self.request(method.upper(), endpoint.url(kwargs), **options)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(**kwargs: Any) -> APIResponse:
            return await self.call(name, **kwargs)

        call.__name__ = name
        return call


# -- databases ----------------------------------------------------------------------------------


class TestDatabase:
    """A throwaway database: ``dsn``, and a few async helpers (one short connection per call)."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, dsn: str):
        self.dsn = dsn

    @contextlib.asynccontextmanager
    async def connect(self):
        conn = await asyncpg.connect(self.dsn)
        try:
            yield conn
        finally:
            await conn.close()

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connect() as conn:
            return await conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        async with self.connect() as conn:
            return [dict(row) for row in await conn.fetch(query, *args)]

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        async with self.connect() as conn:
            row = await conn.fetchrow(query, *args)
        return dict(row) if row is not None else None

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connect() as conn:
            return await conn.fetchval(query, *args)

    async def create_tables(self, *models: Any) -> None:
        """Create the tables of these peewee models (if they do not exist yet)."""
        async with self.connect() as conn:
            for statement in create_table_sql(models):
                await conn.execute(statement)


# -- building the app under test ----------------------------------------------------------------


def load_app(target: Any, settings: dict[str, Any]) -> Sanic:
    """An app from ``target``: an app, a factory taking a settings dict, or "module:attribute"."""
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        if not attribute:
            raise ValueError(f"sanic_app {target!r}: write it as 'package.module:create_app'")
        target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, Sanic):
        target.config.update(settings)
        return target
    if callable(target):
        takes_settings = bool(inspect.signature(target).parameters)
        app = target(settings) if takes_settings else target()
        if not isinstance(app, Sanic):
            raise TypeError(f"{target!r} returned {type(app).__name__}, not a Sanic app")
        if not takes_settings:
            app.config.update(settings)
        return app
    raise TypeError(f"cannot build an app from {target!r}")


def _service_modules(target: Any) -> list[str]:
    """Modules an app target comes from: its "module:attr", its factory's, or for an app the
    modules holding it (``from server import app``) and those of its handlers."""
    if isinstance(target, str):
        return [target.partition(":")[0]]
    if not isinstance(target, Sanic):
        return [target.__module__] if getattr(target, "__module__", None) else []
    ours = ("sanic", "sanic_ms", "builtins")
    holders = [
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] not in ours
        and any(value is target for value in list(getattr(module, "__dict__", {}).values()))
    ]
    handlers = [getattr(route.handler, "__module__", None) for route in target.router.routes]
    found = [*holders, *(m for m in handlers if m and m.split(".")[0] not in ours)]
    return list(dict.fromkeys(found))


def _sibling(package: str, name: str) -> str | None:
    """``package.name`` if it exists (a top-level ``name`` beside a top-level module)."""
    full = f"{package}.{name}" if package else name
    try:
        return full if importlib.util.find_spec(full) is not None else None
    except (ImportError, ValueError):
        return None


def service_tables(target: Any) -> list[Any]:
    """Where the tables of the service ``target`` comes from: migration classes, or models.

    Beside the module the app comes from (then its parent packages): a ``migrations`` module
    gives its migration classes (``examples.users.migrations`` for
    ``examples.users.server:create_app``); failing that, a ``models`` module gives its peewee
    models. Nothing found: an empty list.
    """
    import peewee

    for module in _service_modules(target):
        package = module.rpartition(".")[0]
        while True:
            if found := _sibling(package, "migrations"):
                with contextlib.suppress(ValueError):  # a migrations module of another kind
                    return migrations.discover(found)
            if found := _sibling(package, "models"):
                models = importlib.import_module(found)
                tables = [
                    value
                    for value in vars(models).values()
                    if isinstance(value, type)
                    and issubclass(value, peewee.Model)
                    and value.__module__ == models.__name__
                    and "table_name" in vars(value._meta)
                ]
                if tables:
                    return tables
            if not package:
                break
            package = package.rpartition(".")[0]
    return []


# -- unittest -----------------------------------------------------------------------------------


class SyncAPIClient:
    """The handler-name client for unittest: the same calls without ``await``."""

    def __init__(self, runner: asyncio.Runner, client: AsyncAPIClient):
        self._runner, self._client = runner, client

    def request(self, method: str, path: str, **kwargs: Any) -> APIResponse:
        return self._runner.run(self._client.request(method, path, **kwargs))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(**kwargs: Any) -> APIResponse:
            return self._runner.run(self._client.call(name, **kwargs))

        call.__name__ = name
        return call


class APITestCase(unittest.TestCase):
    """The 2018 sanic-ms test base: the app served once per class on a fresh database.

    Class attributes: ``_app`` (an app, a factory taking a settings dict, or "module:attr"),
    ``_blueprint`` (call only its handlers), ``_models`` (tables to create; by default the
    service's own, from its migrations or else its models: see :func:`service_tables`),
    ``_settings`` (extra settings). In tests: ``self._mock`` registers downstream answers (reset before each
    test), ``self.client.<handler>(data=..., params=..., **route_params)`` calls the app.
    """

    _app: Any = None
    _blueprint: str | None = None
    _models: Iterable[Any] = ()
    _settings: dict[str, Any] = {}

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
        runner = asyncio.Runner()
        cls._stack.callback(runner.close)
        cls._runner = runner
        dsn = runner.run(create_database("test_apitestcase"))
        cls._stack.callback(lambda: asyncio.run(drop_database(dsn)))
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

        async def start():
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

    def run_async(self, awaitable: Any) -> Any:
        """Run a coroutine on the app's loop (for ``self.db.fetch(...)`` and the like)."""
        return self._runner.run(awaitable)


# -- pytest plugin ------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # Tests build many apps with the same name (one per test); Sanic allows that in test mode.
    Sanic.test_mode = True


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "sanic_app",
        "the app the `app` fixture serves: 'package.module:create_app' (a factory taking a "
        "settings dict, or an app)",
        default="",
    )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database created for this test session (on ``DATABASE_URL``'s server), dropped at its end."""
    dsn = asyncio.run(create_database("test_sanic_ms"))
    yield dsn
    asyncio.run(drop_database(dsn))


@pytest.fixture
def db(database_url: str) -> TestDatabase:
    """The session's database: ``db.dsn``, ``await db.execute/fetch/...``, ``db.create_tables``."""
    return TestDatabase(database_url)


@pytest.fixture
def mock_services() -> Iterator[MockServices]:
    """Fake downstream services; an unmocked call made during the test fails it."""
    mocks = MockServices()
    yield mocks
    try:
        mocks.check()  # calls the test did not already see fail through the client
    except UnmockedCall as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def app(request: pytest.FixtureRequest, database_url: str) -> Sanic:
    """The app under test, on the session database.

    From ``sanic_app`` in the test module (an app, a factory or "module:attr"), else the
    ``sanic_app`` ini option; or override this fixture.
    """
    target = getattr(request.module, "sanic_app", None) or request.config.getini("sanic_app")
    if not target:
        pytest.fail(
            "the `app` fixture needs an app: set sanic_app = 'package.module:create_app' in "
            "the test module (or the sanic_app ini option), or define your own `app` fixture",
            pytrace=False,
        )
    return load_app(target, {"DATABASE_URL": database_url})


@pytest.fixture
async def client(app: Sanic, mock_services: MockServices) -> Any:
    """``app`` served on a loopback port, with ``mock_services`` as its downstream services."""
    mock_services.install(app)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        yield AsyncAPIClient(app, url, session, mock_services)


__all__ = [
    "APIResponse",
    "APITestCase",
    "AsyncAPIClient",
    "Call",
    "FakeSession",
    "Mock",
    "MockServices",
    "TestDatabase",
    "UnmockedCall",
    "create_table_sql",
    "endpoints",
    "load_app",
    "service_tables",
]
