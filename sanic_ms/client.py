"""HTTP clients for downstream services: one keep-alive aiohttp session per service per app.

``await app.ctx.clients.cities.get(f"/cities/{id}", request=request)`` returns the parsed JSON (the
``data`` of an envelope). Trouble becomes an envelope error: unreachable -> 502, too slow -> 504,
the downstream's own 4xx -> the same status and its message, its 5xx -> 502 naming it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import aiohttp
import orjson

from . import errors, tracing

SessionFactory = Callable[["Client"], Any]


def _default_session(client: Client) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=client.timeout),
        connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
        json_serialize=lambda value: orjson.dumps(value).decode(),
        raise_for_status=False,
    )


class Client:
    """One downstream service at ``base_url``."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float = 5.0,
        session_factory: SessionFactory | None = None,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session_factory = session_factory or _default_session
        self.session: Any = None

    async def start(self) -> Client:
        if self.session is None:
            self.session = self._session_factory(self)
        return self

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    def headers_for(self, request: Any) -> dict[str, str]:
        """Headers every call carries on behalf of ``request`` (tracing adds its own here)."""
        return {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        request: Any = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        envelope: bool = False,
    ) -> Any:
        """Call the service; return its JSON (only ``data`` of an envelope unless ``envelope``)."""
        if self.session is None:
            await self.start()
        url = self.base_url + path
        sent = self.headers_for(request)
        if headers:
            sent.update(headers)
        try:
            # A CLIENT span from send to response; it writes the B3 headers into ``sent``.
            with tracing.client_span(self.name, method, path, sent) as span:
                async with self.session.request(
                    method, url, params=params, json=json, headers=sent
                ) as response:
                    status = response.status
                    span.set_status(status)
                    raw = await response.read()
        except TimeoutError:
            raise errors.GatewayTimeout(
                f"{self.name} did not answer within {self.timeout:g} s",
                {"service": self.name, "method": method, "url": url},
            ) from None
        except aiohttp.ClientError as exc:
            raise errors.BadGateway(
                f"{self.name} could not be reached",
                {
                    "service": self.name,
                    "method": method,
                    "url": url,
                    "reason": f"{type(exc).__name__}: {exc}",
                },
            ) from None
        body = _parse(raw)
        if status >= 400:
            raise _downstream_error(self.name, method, url, status, body)
        if not envelope and isinstance(body, dict) and body.get("code") == 0 and "data" in body:
            return body["data"]
        return body

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Any:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Any:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        return await self.request("DELETE", path, **kwargs)


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _downstream_error(
    service: str, method: str, url: str, status: int, body: Any
) -> errors.ServiceError:
    message = body.get("message") if isinstance(body, dict) else (body or None)
    detail = {
        "service": service,
        "method": method,
        "url": url,
        "status": status,
        "message": message,
    }
    if status >= 500:
        return errors.BadGateway(
            f"{service} failed with {status}: {message or 'no message'}", detail
        )
    return errors.DownstreamError(service, status, message, detail)


class Clients(Mapping[str, Client]):
    """The app's clients by service name; ``clients.cities`` works as well as ``clients["cities"]``."""

    def __init__(self, clients: Mapping[str, Client] = ()):
        self._clients = dict(clients)

    def __getitem__(self, name: str) -> Client:
        try:
            return self._clients[name]
        except KeyError:
            known = ", ".join(sorted(self._clients)) or "none"
            raise KeyError(
                f"no downstream service named {name!r} (configured: {known}); add it to SERVICES"
            ) from None

    def __getattr__(self, name: str) -> Client:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    async def start(self) -> None:
        await asyncio.gather(*(c.start() for c in self._clients.values()))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()), return_exceptions=True)
