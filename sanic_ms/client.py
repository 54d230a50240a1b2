"""HTTP clients for downstream services: one keep-alive aiohttp session per service per app.

``await app.ctx.clients.cities.get(f"/cities/{id}", request=request)`` returns the parsed JSON (the
``data`` of an envelope). Trouble becomes an envelope error: unreachable -> 502, too slow -> 504,
the downstream's own 4xx -> the same status and its message, its 5xx -> 502 naming it. A 2xx answer
is checked too: a body that is not JSON, an error envelope (``code`` other than 0) or a body over
``max_size`` bytes (the CLIENT_MAX_SIZE setting) is a 502 naming the service. Errors name the
service, never its URL: an internal address is for the log, not for whoever called us.

The seam for fakes, as httpx's transport is: a client gets its HTTP session from a
``SessionFactory``. ``create_app(..., session_factory=...)`` or :func:`use_session_factory` (before
the app starts) gives every client of an app a fake session (``sanic_ms.testing.MockServices``);
the client's own code still runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, TypeGuard, cast

import aiohttp
import orjson
from sanic import Sanic

from . import errors, settings, tracing

log = logging.getLogger("sanic_ms.client")


class Session(Protocol):
    """What a ``Client`` uses of its HTTP session: ``aiohttp.ClientSession``, or a fake one.

    ``request`` returns an async context manager giving a response with ``status``, ``headers``
    and ``read()`` (or aiohttp's streamed ``content``).
    """

    def request(
        self, method: str, url: str, *, params: Any = ..., json: Any = ..., headers: Any = ...
    ) -> Any: ...

    async def close(self) -> None: ...


SessionFactory = Callable[["Client"], Session]


def use_session_factory(app: Sanic[Any, Any], factory: SessionFactory | None) -> None:
    """Give every downstream client of ``app`` its session from ``factory`` (None: aiohttp's).

    Call it before the app starts: the clients are built then.
    """
    app.ctx.session_factory = factory


def session_factory_of(app: Sanic[Any, Any]) -> SessionFactory | None:
    """The factory :func:`use_session_factory` set for ``app``, if any."""
    return cast("SessionFactory | None", getattr(app.ctx, "session_factory", None))


_CHUNK = 64 * 1024
_MESSAGE_MAX = 200  # characters of a downstream's own error message repeated to our client


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
        max_size: int = settings.CLIENT_MAX_SIZE,
        session_factory: SessionFactory | None = None,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_size = max_size
        self._session_factory = session_factory or _default_session
        self.session: Session | None = None

    async def start(self) -> Client:
        await self._open()
        return self

    async def _open(self) -> Session:
        if self.session is None:
            self.session = self._session_factory(self)
        return self.session

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
        session = await self._open()
        url = self.base_url + path
        sent = self.headers_for(request)
        if headers:
            sent.update(headers)
        try:
            # A CLIENT span from send to response; it writes the B3 headers into ``sent``.
            with tracing.client_span(self.name, method, path, sent) as span:
                async with session.request(
                    method, url, params=params, json=json, headers=sent
                ) as response:
                    status = response.status
                    span.set_status(status)
                    raw = await _read(response, self.max_size)
        except TimeoutError:
            raise self._failed(
                errors.GatewayTimeout,
                f"{self.name} did not answer within {self.timeout:g} s",
                method,
                url,
            ) from None
        except _TooLarge as exc:
            raise self._failed(
                errors.BadGateway,
                f"{self.name} answered more than {self.max_size} bytes (CLIENT_MAX_SIZE)",
                method,
                url,
                status=status,
                reason=str(exc),
            ) from None
        except aiohttp.ClientError as exc:
            # A payload error is an answer cut short; anything else never got an answer.
            broken = isinstance(exc, aiohttp.ClientPayloadError)
            raise self._failed(
                errors.BadGateway,
                f"{self.name} broke off its answer"
                if broken
                else f"{self.name} could not be reached",
                method,
                url,
                reason=_reason(exc),
                cause=exc,
            ) from None
        return self._answer(method, url, status, raw, envelope)

    def _answer(self, method: str, url: str, status: int, raw: bytes, envelope: bool) -> Any:
        """What the service answered, checked: an error unless a 2xx with JSON that is no error."""
        if status >= 400:
            raise self._error_answer(method, url, status, _parse(raw))
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError as exc:
            raise self._failed(
                errors.BadGateway,
                f"{self.name} answered {status} with a body that is not JSON",
                method,
                url,
                status=status,
                reason=str(exc),
            ) from None
        if _is_error_envelope(body):
            message = _shorten(body.get("message"))
            raise self._failed(
                errors.BadGateway,
                f"{self.name} answered {status} with an error: {message or 'no message'}",
                method,
                url,
                status=status,
                code=body["code"],
                message=message,
            )
        if not envelope and isinstance(body, dict) and body.get("code") == 0 and "data" in body:
            return body["data"]
        return body

    def _failed(
        self,
        kind: type[errors.ServiceError],
        summary: str,
        method: str,
        url: str,
        *,
        cause: BaseException | None = None,
        **detail: Any,
    ) -> errors.ServiceError:
        """The error our client gets (the service named, not its URL); the URL goes to the log."""
        log.warning("%s (%s %s) %s %s", summary, method, url, detail, cause or "")
        return kind(summary, {"service": self.name, **detail})

    def _error_answer(self, method: str, url: str, status: int, body: Any) -> errors.ServiceError:
        message = _shorten(body.get("message") if isinstance(body, dict) else body)
        if status >= 500:
            return self._failed(
                errors.BadGateway,
                f"{self.name} failed with {status}: {message or 'no message'}",
                method,
                url,
                status=status,
                message=message,
            )
        log.info("%s answered %s to %s %s: %s", self.name, status, method, url, message)
        return errors.DownstreamError(
            self.name, status, message, {"service": self.name, "status": status, "message": message}
        )

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


class _TooLarge(Exception):
    """A downstream body over the client's ``max_size``."""


async def _read(response: Any, limit: int) -> bytes:
    """The body, refused once it passes ``limit`` bytes: a huge answer is never held whole."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(f"Content-Length: {declared}")
    content = getattr(response, "content", None)
    if content is None:  # sanic_ms.testing.fakes' session hands over the whole body at once
        raw: bytes = await response.read()
    else:
        chunks, size = [], 0
        async for chunk in content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                # Leaving the body unread makes aiohttp close this connection, not reuse it.
                raise _TooLarge(f"more than {limit} bytes read")
            chunks.append(chunk)
        raw = b"".join(chunks)
    if len(raw) > limit:
        raise _TooLarge(f"{len(raw)} bytes")
    return raw


def _parse(raw: bytes) -> Any:
    """An error answer's body: its JSON, or its text when it is not JSON (an HTML error page)."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _is_error_envelope(body: Any) -> TypeGuard[dict[str, Any]]:
    """``{"code": 404, "message": ...}``: an error, even when it came with a 2xx status."""
    if not isinstance(body, dict) or "message" not in body:
        return False
    code = body.get("code")
    return isinstance(code, int) and not isinstance(code, bool) and code != 0


def _reason(exc: aiohttp.ClientError) -> str:
    """What went wrong, without the address aiohttp puts in its messages."""
    errno = getattr(getattr(exc, "os_error", None), "errno", None) or getattr(exc, "errno", None)
    return f"{type(exc).__name__}: {os.strerror(errno)}" if errno else type(exc).__name__


def _shorten(message: Any) -> str | None:
    if message is None or message == "":
        return None
    text = message if isinstance(message, str) else str(message)
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


class Clients(Mapping[str, Client]):
    """The app's clients by service name; ``clients.cities`` works as well as ``clients["cities"]``."""

    def __init__(self, clients: Mapping[str, Client] | None = None):
        self._clients = dict(clients or {})

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
