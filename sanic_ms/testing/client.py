"""A client calling an app's handlers by name: ``await client.get_user(id=1)``.

The app runs on a loopback port (``sanic_ms.serve``); the client builds each URL from the route of
the handler it is named after, sends the call with aiohttp and returns an :class:`APIResponse`.
:class:`SyncAPIClient` makes the same calls without ``await`` (for unittest).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from sanic import Sanic

from .fakes import MockServices

_URI_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


@dataclass
class APIResponse:
    """What a handler answered: ``status``, the parsed JSON ``json`` (the envelope), headers."""

    status: int
    json: Any
    headers: CIMultiDictProxy[str]
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


def endpoints(app: Sanic[Any, Any], blueprint: str | None = None) -> dict[str, Endpoint]:
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
        app: Sanic[Any, Any],
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

    def __getattr__(self, name: str) -> Callable[..., Awaitable[APIResponse]]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(**kwargs: Any) -> APIResponse:
            return await self.call(name, **kwargs)

        call.__name__ = name
        return call


class SyncAPIClient:
    """The handler-name client for unittest: the same calls without ``await``."""

    def __init__(self, runner: asyncio.Runner, client: AsyncAPIClient):
        self._runner, self._client = runner, client

    def request(self, method: str, path: str, **kwargs: Any) -> APIResponse:
        return self._runner.run(self._client.request(method, path, **kwargs))

    def __getattr__(self, name: str) -> Callable[..., APIResponse]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(**kwargs: Any) -> APIResponse:
            return self._runner.run(self._client.call(name, **kwargs))

        call.__name__ = name
        return call


__all__ = ["APIResponse", "AsyncAPIClient", "Endpoint", "SyncAPIClient", "endpoints"]
