"""The server side: a SERVER span per request, the tracer's lifecycle and ``/_tracing/stats``.

``setup(app)`` (called by ``create_app``) adds a request middleware that extracts the caller's B3
headers and starts a SERVER span named by the route template, makes it the active span, and a
response middleware that tags the status and finishes it. While the app runs its tracer is also
``opentracing.tracer`` (see ``global_tracer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentracing import Format
from sanic import HTTPResponse, Request, Sanic
from sanic.response import BaseHTTPResponse, json

from ..settings import defaults
from .context import ACTIVE
from .global_tracer import install_global_tracer, uninstall_global_tracer
from .reporter import ZipkinReporter
from .tracer import Tracer

STATS_PATH = "/_tracing/stats"


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    # An app's config holds every setting; a test's dict may name only the few it changes.
    return {**defaults(), **config}


_names: dict[tuple[str, str | None], str] = {}  # (method, route path) -> span name; routes are few


def server_span_name(request: Request) -> str:
    """``get /users/<id:int>``: the route template, so names stay low-cardinality."""
    route = request.route
    key = (request.method, None if route is None else route.path)
    name = _names.get(key)
    if name is None:
        method = request.method.lower()
        name = f"{method} not_found" if route is None else f"{method} /{route.path}"
        if len(_names) < 10_000:  # bounded whatever the methods clients make up
            _names[key] = name
    return name


def start_server_span(request: Request) -> None:
    """Request middleware: the SERVER span, child of the caller's context if it sent one.

    A plain function, like ``finish_server_span``: neither waits for anything, and Sanic calls a
    middleware that returns no awaitable without making and running a coroutine for it.
    """
    tracer = request.app.ctx.tracer
    path = request.path  # a property that decodes the URL each time it is read
    if tracer is None or path.startswith("/_tracing/"):
        return
    parent = tracer.extract(Format.HTTP_HEADERS, request.headers)
    method = request.method
    span = tracer.start_span(
        server_span_name(request),
        child_of=parent,
        ignore_active_span=True,  # a keep-alive connection's previous request is not a parent
        tags={"span.kind": "server", "http.method": method, "http.path": path},
    )
    request.ctx.trace_scope = ACTIVE.activate(span, False)


def finish_server_span(request: Request, response: BaseHTTPResponse) -> None:
    """Response middleware (runs last): status tags, then finish the SERVER span."""
    scope = getattr(request.ctx, "trace_scope", None)
    if scope is None or getattr(request.ctx, "trace_finished", False):
        return  # not traced, or already finished (response middleware ran twice)
    request.ctx.trace_finished = True
    span = scope.span
    status = response.status
    span.set_tag("http.status_code", status)
    if status >= 500:
        span.set_tag("error", str(status))
    scope.close()
    span.finish()


def build_tracer(name: str, config: Mapping[str, Any]) -> tuple[Any, Any]:
    """The tracer and reporter ``config`` asks for (reporter None when ZIPKIN_URL is unset).

    ``TRACING_BACKEND``: ``basic`` (basictracer and our reporter) or ``otel`` (``tracing.otel``).
    """
    conf = _settings(config)
    backend = conf["TRACING_BACKEND"]
    if backend == "otel":
        try:
            # Here, not at the top: OpenTelemetry is an optional extra, imported only when asked.
            from . import otel
        except ImportError as exc:
            raise RuntimeError(
                f"TRACING_BACKEND=otel needs OpenTelemetry ({exc.name} is missing): "
                "pip install 'sanic-ms-workshop[otel]'"
            ) from exc
        return otel.build_tracer(name, conf)
    if backend != "basic":
        raise ValueError(f"TRACING_BACKEND is basic or otel, not {backend!r}")
    reporter = None
    if conf["ZIPKIN_URL"]:
        reporter = ZipkinReporter(
            conf["ZIPKIN_URL"],
            name,
            queue_size=conf["TRACING_QUEUE_SIZE"],
            batch_size=conf["TRACING_BATCH_SIZE"],
            flush_interval=conf["TRACING_FLUSH_INTERVAL"],
            post_timeout=conf["TRACING_POST_TIMEOUT"],
            stats_interval=conf["TRACING_STATS_INTERVAL"],
        )
    tracer = Tracer(
        name,
        reporter,
        conf["TRACING_SAMPLE_RATE"],
        propagation=conf["TRACING_PROPAGATION"],
        trace_id_128bit=conf["TRACING_TRACE_ID_128BIT"],
        sql_params=conf["TRACING_SQL_PARAMS"],
    )
    return tracer, reporter


def stats(app: Sanic[Any, Any]) -> dict[str, Any]:
    """What ``GET /_tracing/stats`` answers: settings in force and the reporter's counters."""
    tracer = getattr(app.ctx, "tracer", None)
    reporter = getattr(app.ctx, "tracing_reporter", None)
    conf = _settings(app.config)
    return {
        "enabled": tracer is not None,
        "service": app.name,
        "backend": conf["TRACING_BACKEND"],
        "sample_rate": None if tracer is None else conf["TRACING_SAMPLE_RATE"],
        "zipkin_url": None if reporter is None else reporter.url,
        "reporter": None if reporter is None else reporter.stats(),
    }


def setup(app: Sanic[Any, Any]) -> None:
    """Trace ``app``: listeners for the tracer's lifecycle, the middleware, the stats route.

    With ``TRACING_ENABLED`` false only the stats route is added, so tracing off costs nothing.
    """
    app.ctx.tracer = None
    app.ctx.tracing_reporter = None

    @app.get(STATS_PATH, name="tracing_stats")
    async def tracing_stats(request: Request) -> HTTPResponse:
        """Tracing settings in force and the reporter's counters (queued, sent, dropped...)."""
        return json({"code": 0, "data": stats(request.app)})

    if not _settings(app.config)["TRACING_ENABLED"]:
        return

    @app.before_server_start
    async def start_tracer(app: Sanic[Any, Any]) -> None:
        tracer, reporter = build_tracer(app.name, app.config)
        if reporter is not None:
            await reporter.start()
        app.ctx.tracer, app.ctx.tracing_reporter = tracer, reporter
        install_global_tracer(tracer)

    @app.after_server_stop
    async def stop_tracer(app: Sanic[Any, Any]) -> None:
        uninstall_global_tracer(app.ctx.tracer)
        reporter = app.ctx.tracing_reporter
        if reporter is not None:
            await reporter.close(_settings(app.config)["TRACING_FLUSH_TIMEOUT"])

    # Highest priority: the span starts before, and ends after, every other middleware.
    app.register_middleware(start_server_span, "request", priority=1000)
    app.register_middleware(finish_server_span, "response", priority=1000)
