"""The ``serve`` fixture: a lab test's app on a loopback port in the test's own loop.

``async with serve(app) as served: reply = await served.get("/users/1")``. The session database
(``database_url``) is the repository's one fixture (``conftest.py``), as in every other test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from sanic_ms.serve import serve as serve_app


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any  # parsed JSON when the answer is JSON, else text

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.body!r}"


@dataclass
class Served:
    """An app listening on a loopback port, with a small HTTP client for the test."""

    url: str
    session: aiohttp.ClientSession
    app: Any

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self.session.request(method, self.url + path, **kwargs) as response:
            text = await response.text()
            try:
                body = await response.json(content_type=None) if text else None
            except ValueError:
                body = text
            return Reply(response.status, response.headers, body)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("POST", path, **kwargs)


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[Served]:
    app.config.MOTD = False  # the banner imports sanic_testing, which warns at import
    # The framework's own in-loop server, listeners included.
    async with serve_app(app) as url, aiohttp.ClientSession() as session:
        yield Served(url, session, app)


@pytest.fixture
def serve() -> Any:
    """``async with serve(app) as served: reply = await served.get("/users/1")``."""
    return _serve
