"""Fake downstream services: a fake aiohttp session answering from registered mocks.

Downstream services are faked where our ``sanic_ms.client.Client`` meets aiohttp, through the seam
the client declares (``SessionFactory``): the app's clients get a :class:`FakeSession`, so the
client's own code (URL building, error mapping, envelope unwrapping) still runs and nothing patches
call sites. A call nobody registered fails the test, naming its method and URL. Each mock records
the calls it answered::

    mocks = MockServices()
    city = mocks.get("/cities/1", payload={"id": 1, "name": "Lisbon"})
    mocks.install(app)             # before the app starts
    ...                            # call the app
    assert city.call_count == 1
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from sanic import Sanic
from yarl import URL

from ..client import use_session_factory


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
    url: str | re.Pattern[str]
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

    def __init__(self, answer: Callable[[], Awaitable[FakeResponse]]):
        self._answer = answer

    def __await__(self) -> Generator[Any, None, FakeResponse]:
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

    def add(self, method: str, url: str | re.Pattern[str], **answer: Any) -> Mock:
        mock = Mock(method.upper(), url, **answer)
        self.mocks.append(mock)
        return mock

    def get(self, url: str | re.Pattern[str], **answer: Any) -> Mock:
        return self.add("GET", url, **answer)

    def post(self, url: str | re.Pattern[str], **answer: Any) -> Mock:
        return self.add("POST", url, **answer)

    def put(self, url: str | re.Pattern[str], **answer: Any) -> Mock:
        return self.add("PUT", url, **answer)

    def patch(self, url: str | re.Pattern[str], **answer: Any) -> Mock:
        return self.add("PATCH", url, **answer)

    def delete(self, url: str | re.Pattern[str], **answer: Any) -> Mock:
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
        """A ``sanic_ms.client.SessionFactory``: every ``Client`` it serves gets a fake session."""
        return FakeSession(self, client)

    def install(self, app: Sanic[Any, Any]) -> None:
        """Make ``app``'s clients use these mocks (before the app starts)."""
        use_session_factory(app, self.session_factory)


__all__ = ["Call", "FakeResponse", "FakeSession", "Mock", "MockServices", "UnmockedCall"]
