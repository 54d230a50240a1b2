"""Lab 00 app: the same simulated I/O done blocking and async, side by side in one Sanic app.

Three pairs of handlers, each pair doing the same work (``IO_DELAY`` seconds of waiting, 50 ms by
default):

======  ===========================  ======================================
pair    blocking (given)             async (the student writes)
======  ===========================  ======================================
sleep   ``time.sleep``               ``asyncio.sleep``            (task 1)
db      psycopg 3 (sync) pg_sleep    asyncpg pool pg_sleep        (task 2)
http    urllib -> slow upstream      aiohttp session -> upstream  (task 3)
======  ===========================  ======================================

Routes: ``GET /`` (the pairs; a cheap readiness probe), ``GET /blocking/<pair>``,
``GET /async/<pair>``. Each handler answers ``{"pair", "style", "waited", ...}``.

Configuration: ``create_app(delay=None, dsn=None, upstream=None, pool_size=None)``; a ``None``
argument falls back to the environment (``IO_DELAY`` seconds, ``DATABASE_URL``, ``UPSTREAM_URL``,
``DB_POOL_SIZE``), then to the defaults below (the database from ``grader.postgres.resolve()``;
the upstream is ``bench/slow_upstream.py``, started by ``bench/load.py``).

One source for lab 00 (read by ``python -m grader build``):

* ``bench/blocking_vs_async.py`` (this file) is the finished version, copied to
  ``solutions/00/blocking_vs_async.py`` with the marker lines removed.
* ``labs/00/blocking_vs_async.py`` is this file with each marked block replaced by one line at the
  marker's indentation: ``raise NotImplementedError("TODO task N: <what to do>")``.
* A block opens with ``# BEGIN SOLUTION task N: <what to do>`` and closes with
  ``# END SOLUTION``. It always spans a whole function body below the docstring, so the stub is
  valid Python. The text after the colon is the TODO message, as is.

``python -m bench.load --source labs/00`` serves ``labs/00/blocking_vs_async.py`` instead, so a
student load-tests their own handlers.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request

import aiohttp
import asyncpg
import psycopg
from sanic import Request, Sanic
from sanic.response import JSONResponse
from sanic.response import json as json_response

DEFAULT_DELAY = 0.05  # seconds of simulated I/O per request
DEFAULT_UPSTREAM = "http://127.0.0.1:8099"
DEFAULT_POOL_SIZE = 50  # one connection per load-test user, so the pool is not the bottleneck
PAIRS = ("sleep", "db", "http")


def create_app(
    delay: float | None = None,
    dsn: str | None = None,
    upstream: str | None = None,
    pool_size: int | None = None,
    name: str = "lab00",
) -> Sanic:
    """The lab 00 app; nothing connects until the server starts."""
    app = Sanic(name)
    app.ctx.delay = delay if delay is not None else float(os.environ.get("IO_DELAY", DEFAULT_DELAY))
    app.ctx.dsn = dsn or os.environ.get("DATABASE_URL") or _default_dsn()
    app.ctx.upstream = (upstream or os.environ.get("UPSTREAM_URL") or DEFAULT_UPSTREAM).rstrip("/")
    app.ctx.pool_size = pool_size or int(os.environ.get("DB_POOL_SIZE", DEFAULT_POOL_SIZE))

    app.before_server_start(open_resources)
    app.after_server_stop(close_resources)
    app.add_route(index, "/")
    app.add_route(blocking_sleep, "/blocking/sleep")
    app.add_route(async_sleep, "/async/sleep")
    app.add_route(blocking_db, "/blocking/db")
    app.add_route(async_db, "/async/db")
    app.add_route(blocking_http, "/blocking/http")
    app.add_route(async_http, "/async/http")
    return app


def _default_dsn() -> str:
    from grader.postgres import resolve

    return resolve(verbose=False).dsn


async def open_resources(app: Sanic) -> None:
    """One sync connection for the blocking handlers, a pool and a session for the async ones."""
    # psycopg.connect blocks; do it in a thread so even startup leaves the loop free.
    app.ctx.sync_db = await asyncio.to_thread(psycopg.connect, app.ctx.dsn, autocommit=True)
    app.ctx.pool = await asyncpg.create_pool(app.ctx.dsn, min_size=1, max_size=app.ctx.pool_size)
    # limit=0: no cap on connections to the upstream, like the blocking client (one per call).
    app.ctx.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def close_resources(app: Sanic) -> None:
    await app.ctx.http.close()
    await app.ctx.pool.close()
    app.ctx.sync_db.close()


async def index(request: Request) -> JSONResponse:
    """The pairs and the delay: what a load test can hit."""
    return json_response(
        {
            "delay": request.app.ctx.delay,
            "routes": [f"/{style}/{pair}" for pair in PAIRS for style in ("blocking", "async")],
        }
    )


# --- sleep: waiting with nothing else to do -------------------------------------------------------


async def blocking_sleep(request: Request) -> JSONResponse:
    """Wait ``delay`` seconds with ``time.sleep``: the whole worker stops meanwhile."""
    delay = request.app.ctx.delay
    time.sleep(delay)  # noqa: ASYNC251 (blocking on purpose: this is the "before")
    return json_response({"pair": "sleep", "style": "blocking", "waited": delay})


async def async_sleep(request: Request) -> JSONResponse:
    """Task 1: wait ``delay`` seconds and let other requests run meanwhile.

    Answer exactly like ``blocking_sleep``, with ``"style": "async"``.
    """
    # BEGIN SOLUTION task 1: wait with asyncio.sleep, then answer like blocking_sleep
    delay = request.app.ctx.delay
    await asyncio.sleep(delay)
    return json_response({"pair": "sleep", "style": "async", "waited": delay})
    # END SOLUTION


# --- db: a query that takes a while in PostgreSQL -------------------------------------------------


async def blocking_db(request: Request) -> JSONResponse:
    """Run ``pg_sleep(delay)`` on the one psycopg connection; the worker waits for PostgreSQL."""
    delay = request.app.ctx.delay
    row = request.app.ctx.sync_db.execute(
        "SELECT pg_backend_pid() FROM pg_sleep(%s)", (delay,)
    ).fetchone()
    return json_response({"pair": "db", "style": "blocking", "waited": delay, "backend": row[0]})


async def async_db(request: Request) -> JSONResponse:
    """Task 2: run the same query through the asyncpg pool in ``request.app.ctx.pool``.

    asyncpg numbers parameters ``$1``; answer like ``blocking_db`` with ``"style": "async"``.
    """
    # BEGIN SOLUTION task 2: run the pg_sleep query on request.app.ctx.pool (asyncpg)
    delay = request.app.ctx.delay
    backend = await request.app.ctx.pool.fetchval(
        "SELECT pg_backend_pid() FROM pg_sleep($1)", delay
    )
    return json_response({"pair": "db", "style": "async", "waited": delay, "backend": backend})
    # END SOLUTION


# --- http: calling another service that is slow to answer -----------------------------------------


async def blocking_http(request: Request) -> JSONResponse:
    """GET ``<upstream>/slow?delay=...`` with urllib; the worker waits for the answer."""
    delay = request.app.ctx.delay
    url = f"{request.app.ctx.upstream}/slow?delay={delay}"
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: ASYNC210 (on purpose)
        upstream = json.load(answer)
    return json_response(
        {"pair": "http", "style": "blocking", "waited": delay, "upstream": upstream}
    )


async def async_http(request: Request) -> JSONResponse:
    """Task 3: make the same call with the aiohttp session in ``request.app.ctx.http``.

    Answer like ``blocking_http`` with ``"style": "async"``.
    """
    # BEGIN SOLUTION task 3: call the upstream with the aiohttp session request.app.ctx.http
    delay = request.app.ctx.delay
    url = f"{request.app.ctx.upstream}/slow?delay={delay}"
    async with request.app.ctx.http.get(url) as answer:
        answer.raise_for_status()
        upstream = await answer.json()
    return json_response({"pair": "http", "style": "async", "waited": delay, "upstream": upstream})
    # END SOLUTION
