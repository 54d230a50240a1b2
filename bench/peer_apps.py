"""The peers ``make bench`` measures beside ``sanic_ms``: the same two endpoints on other stacks.

Each is an ASGI app served by uvicorn with uvloop and httptools (``bench/serve.py --asgi``), one
worker, the same asyncpg pool (size, reset) and the same query as ``bench/overhead_apps.py``:

* ``fastapi_bare``: FastAPI, nothing logged, nothing traced;
* ``fastapi_otel``: FastAPI the way a team usually makes it observable: OpenTelemetry's FastAPI
  and asyncpg instrumentors, the SDK's ``BatchSpanProcessor`` exporting Zipkin v2 JSON to
  ``ZIPKIN_URL`` (the same span sink as ``traced``), and one JSON log line per request carrying
  the trace and span ids (python-json-logger, as ``sanic_ms``'s ``@logger`` writes);
* ``litestar_bare``: Litestar, nothing logged, nothing traced.

Their packages are the ``bench`` extra of ``pyproject.toml``, never the framework's dependencies.

No ``from __future__ import annotations`` here: FastAPI and Litestar read the handlers' annotations at
run time, and the types they name are imported inside the factories.
"""

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from bench.overhead_apps import POOL_SIZE, ROW_QUERY
from sanic_ms.db import keep_session


async def _open_pool() -> asyncpg.Pool:
    return await asyncpg.create_pool(
        os.environ["DATABASE_URL"], min_size=1, max_size=POOL_SIZE, reset=keep_session
    )


def _fastapi(lifespan_extra=None) -> Any:
    from fastapi import FastAPI, HTTPException, Request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await _open_pool()
        try:
            yield
        finally:
            await app.state.pool.close()
            if lifespan_extra is not None:
                lifespan_extra()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/hello")
    async def hello() -> dict:
        return {"hello": "world"}

    @app.get("/row/{id}")
    async def row(request: Request, id: int) -> dict:
        record = await request.app.state.pool.fetchrow(ROW_QUERY, id)
        if record is None:
            raise HTTPException(404, f"row {id} not found")
        return dict(record)

    return app


def fastapi_bare() -> Any:
    return _fastapi()


def _json_logger(name: str) -> logging.Logger:
    from pythonjsonlogger.orjson import OrjsonFormatter

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OrjsonFormatter("%(message)s %(levelname)s %(name)s", timestamp=True))
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def fastapi_otel() -> Any:
    from fastapi import Request
    from opentelemetry import trace
    from opentelemetry.exporter.zipkin.json import ZipkinExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "fastapi-otel"}))
    zipkin = os.environ.get("ZIPKIN_URL", "http://127.0.0.1:9411").rstrip("/")
    provider.add_span_processor(
        BatchSpanProcessor(ZipkinExporter(endpoint=f"{zipkin}/api/v2/spans"))
    )
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    log = _json_logger("bench.fastapi_otel")

    app = _fastapi(lifespan_extra=provider.shutdown)

    @app.middleware("http")
    async def log_line(request: Request, call_next):
        # One JSON line per request with the trace and span ids, as sanic_ms's @logger writes.
        response = await call_next(request)
        context = trace.get_current_span().get_span_context()
        log.info(
            "handler",
            extra={
                "path": request.url.path,
                "status": response.status_code,
                "trace_id": f"{context.trace_id:032x}",
                "span_id": f"{context.span_id:016x}",
            },
        )
        return response

    # Instrumented last, so its middleware is outermost and the log line runs inside its span.
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    return app


def litestar_bare() -> Any:
    from litestar import Litestar, get
    from litestar.datastructures import State
    from litestar.exceptions import NotFoundException

    async def open_pool(app: Litestar) -> None:
        app.state.pool = await _open_pool()

    async def close_pool(app: Litestar) -> None:
        await app.state.pool.close()

    @get("/hello")
    async def hello() -> dict:
        return {"hello": "world"}

    @get("/row/{id:int}")
    async def row(state: State, id: int) -> dict:
        record = await state.pool.fetchrow(ROW_QUERY, id)
        if record is None:
            raise NotFoundException(f"row {id} not found")
        return dict(record)

    return Litestar(
        [hello, row], on_startup=[open_pool], on_shutdown=[close_pool], openapi_config=None
    )
