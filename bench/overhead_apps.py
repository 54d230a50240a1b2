"""The apps ``make bench`` compares, as factories ``bench/serve.py`` runs one per process.

Overhead (same two endpoints on each: ``GET /hello`` a small JSON, ``GET /row/<id>`` one row of
``bench_rows`` by primary key through the pool):

* ``bare``: Sanic and a raw asyncpg pool, nothing else;
* ``envelope``: ``sanic_ms.create_app`` (envelope, error handler, CORS, the database layer),
  no log line, tracing off: the pipeline alone;
* ``framework``: the same with ``@logger`` on each handler, so one JSON log line per request;
* ``traced``: the same with tracing on at 100% sampling, reporting to ``ZIPKIN_URL`` (the runner
  points it at ``python -m sanic_ms.tracing.collector --max-traces 0``, or at a closed port for "collector down").

End to end: ``cities_delayed`` / ``roles_delayed`` (the example services, every request held
``E2E_DELAY`` seconds) and ``users_e2e`` (the users service plus ``/users-sequential/<id>``, the
same lookup with the two downstream calls one after the other).

Everything comes from the environment: ``DATABASE_URL``, ``ZIPKIN_URL``, ``E2E_DELAY``,
``CITIES_SERVICE_URL`` and ``ROLES_SERVICE_URL``.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg
from sanic import Request, Sanic
from sanic.response import json

import sanic_ms
from sanic_ms import NotFound, logger
from sanic_ms.db import keep_session

# The same on every app. Not sanic_ms's default of 10: every app of a run holds its pool at once,
# and ten pools of 10 (traced_2w has two) plus end to end's 6 would not fit PostgreSQL's default
# 100 connections. A worker at full load keeps 3 or 4 busy; 8 leaves it room.
POOL_SIZE = 8
ROW_QUERY = "SELECT id, name, email FROM bench_rows WHERE id = $1"


def bare() -> Sanic:
    app = Sanic("bare")

    @app.before_server_start
    async def open_pool(app: Sanic) -> None:
        # The same pool reset as sanic_ms, so the comparison measures the framework, not that.
        app.ctx.pool = await asyncpg.create_pool(
            os.environ["DATABASE_URL"], min_size=1, max_size=POOL_SIZE, reset=keep_session
        )

    @app.after_server_stop
    async def close_pool(app: Sanic) -> None:
        await app.ctx.pool.close()

    @app.get("/hello")
    async def hello(request: Request):
        return json({"hello": "world"})

    @app.get("/row/<id:int>")
    async def row(request: Request, id: int):
        record = await request.app.ctx.pool.fetchrow(ROW_QUERY, id)
        if record is None:
            return json({"message": f"row {id} not found"}, status=404)
        return json(dict(record))

    return app


async def hello(request: Request):
    return {"hello": "world"}


async def row(request: Request, id: int):
    async with request.app.ctx.db.acquire(request) as conn:
        record = await conn.fetchrow(ROW_QUERY, id)
    if record is None:
        raise NotFound(f"row {id} not found")
    return record


# The same handlers with one JSON log line per call.
logged_hello = logger(type="handler", category="bench", description="hello")(hello)
logged_row = logger(type="handler", category="bench", description="one row by primary key")(row)


def _sanic_ms_app(name: str, tracing: bool, logged: bool = True) -> Sanic:
    app = sanic_ms.create_app(
        name,
        {
            "DB_MIN_SIZE": 1,  # like bare: the warm-up fills both pools to POOL_SIZE
            "DB_MAX_SIZE": POOL_SIZE,
            "TRACING_ENABLED": tracing,
            "TRACING_SAMPLE_RATE": 1.0,
            # Shutdown only: with the collector down, do not wait the default 5 s to flush.
            "TRACING_FLUSH_TIMEOUT": 1.0,
        },
    )
    app.add_route(logged_hello if logged else hello, "/hello")
    app.add_route(logged_row if logged else row, "/row/<id:int>")
    return app


def envelope() -> Sanic:
    return _sanic_ms_app("envelope", tracing=False, logged=False)


def framework() -> Sanic:
    return _sanic_ms_app("framework", tracing=False)


def traced() -> Sanic:
    app = _sanic_ms_app("traced", tracing=True)
    ensure_tracing(app)
    return app


def ensure_tracing(app: Sanic) -> str:
    """Make sure tracing is installed on a ``sanic_ms`` app; say who installed it.

    ``sanic_ms.tracing.setup`` is meant to be called by ``create_app``; while it is not, the
    bench calls it itself so the traced numbers still measure the tracing code.
    """
    if hasattr(app.ctx, "tracer"):
        how = "by create_app"
    else:
        try:
            from sanic_ms import tracing
        except ImportError:
            print("bench: sanic_ms.tracing is missing; 'traced' runs untraced", file=sys.stderr)
            return "missing"
        tracing.setup(app)
        how = "by the bench (create_app does not call tracing.setup yet)"
    print(f"bench: tracing installed {how}", file=sys.stderr, flush=True)
    return how


def _delayed(app: Sanic) -> Sanic:
    delay = float(os.environ.get("E2E_DELAY", "0.05"))

    @app.on_request
    async def hold(request: Request) -> None:
        # The downstream's own "work": what parallel calls in the users service overlap.
        await asyncio.sleep(delay)

    return app


def cities_delayed() -> Sanic:
    from examples.cities.server import create_app

    app = create_app()
    ensure_tracing(app)
    return _delayed(app)


def roles_delayed() -> Sanic:
    from examples.roles.server import create_app

    app = create_app()
    ensure_tracing(app)
    return _delayed(app)


def users_e2e() -> Sanic:
    from examples.users.server import create_app
    from examples.users.views import COLUMNS, get_city_by_id, get_role_by_id

    app = create_app()
    ensure_tracing(app)

    async def get_user_sequential(request: Request, id: int):
        """``GET /users/<id>`` with the city and role calls one after the other, for comparison."""
        async with request.app.ctx.db.acquire(request, readonly=True) as conn:
            user = await conn.fetchrow(f"SELECT {COLUMNS} FROM users WHERE id = $1", id)
        if user is None:
            raise NotFound(f"user {id} not found")
        user["city"] = await get_city_by_id(request, user["city_id"])
        user["role"] = await get_role_by_id(request, user["role_id"])
        return user

    app.add_route(get_user_sequential, "/users-sequential/<id:int>")
    return app
