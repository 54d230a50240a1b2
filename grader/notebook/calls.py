"""HTTP from a notebook cell: one request shown with its answer, or many at once, timed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp


async def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    show: bool = False,
) -> tuple[int, Any]:
    """One HTTP request; returns ``(status, parsed JSON or text)``, also printed when ``show``.

    ``body`` is sent as JSON unless it is a ``str`` (sent as is, to show what bad input gets).
    """
    kwargs: dict[str, Any] = {"headers": dict(headers or {})}
    if isinstance(body, str):
        kwargs["data"] = body
        kwargs["headers"].setdefault("content-type", "application/json")
    elif body is not None:
        kwargs["json"] = body
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, **kwargs) as response:
            text = await response.text()
            try:
                answer = json.loads(text) if text else None
            except ValueError:
                answer = text
    if show:
        sent = (
            f"  {body if isinstance(body, str) else json.dumps(body)}" if body is not None else ""
        )
        shown = json.dumps(answer, indent=2, default=str) if not isinstance(answer, str) else answer
        print(f"> {method} {url}{sent}\n< {response.status} {shown}")
    return response.status, answer


async def show(method: str, url: str, body: Any = None, **kwargs: Any) -> None:
    """Print a request and its answer (status, JSON envelope): ``await nb.show("GET", url)``."""
    await call(method, url, body, show=True, **kwargs)


async def timed_calls(url: str, concurrency: int, method: str = "GET") -> list[tuple[int, float]]:
    """``concurrency`` requests at once to ``url``; ``(status, seconds)`` of each, in order sent.

    One connection per request (no pooling), as that many separate clients would do.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, float]:
            began = time.perf_counter()
            async with session.request(method, url) as response:
                await response.read()
            return response.status, time.perf_counter() - began

        return await asyncio.gather(*(one() for _ in range(concurrency)))
