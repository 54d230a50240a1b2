"""Distributed tracing: an OpenTracing tracer (basictracer) whose active span follows contextvars.

How a request is traced:

- ``setup(app)`` (called by ``create_app``) adds a request middleware that extracts the caller's
  B3 headers and starts a SERVER span named by the route template, makes it the active span, and
  a response middleware that tags the status and finishes it. Spans go to a
  ``sanic_ms.zipkin.ZipkinReporter`` which posts them to Zipkin from a background task.
- ``client_span``, ``query_span`` and ``local_span`` open child spans of whatever span is active.
  The active span lives in a ``ContextVar``, so tasks started by ``asyncio.gather`` inherit it
  and their spans become siblings. With no active span (outside a request, or tracing off) or an
  unsampled one they cost next to nothing and record nothing.
- ``current_ids`` gives ``sanic_ms.log`` the ``trace_id`` / ``span_id`` for every log line
  written while serving a request.
- While an app runs its tracer is also ``opentracing.tracer`` (``opentracing.global_tracer()``),
  so a library that traces through the global joins the request's trace.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import opentracing
from basictracer import BasicTracer
from basictracer.recorder import Sampler, SpanRecorder
from basictracer.span import BasicSpan
from opentracing import Format
from opentracing.scope_managers.contextvars import _SCOPE, ContextVarsScopeManager

from .b3 import B3Propagator, SpanContext, new_id, new_trace_id

log = logging.getLogger("sanic_ms.tracing")

B3_SINGLE = "b3_single"  # an extra inject/extract format: one ``b3`` header
STATS_PATH = "/_tracing/stats"

_TWO_64 = 1 << 64
_time = time.time
# Where the helpers below keep the active span, whatever the tracer: our Tracer's own scope
# manager uses the same ContextVar, and with the OpenTelemetry shim (TRACING_BACKEND=otel) the
# helpers always name the parent explicitly, so they never need the shim's notion of "active".
_ACTIVE = ContextVarsScopeManager()


class RateSampler(Sampler):
    """Keep a fraction ``rate`` (0.0-1.0) of traces, decided from the trace ID.

    Deciding from the ID rather than at random means every service that makes a decision for
    the same trace makes the same one.
    """

    def __init__(self, rate: float):
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"TRACING_SAMPLE_RATE must be between 0.0 and 1.0, got {rate}")
        self.rate = rate
        self._bound = int(rate * _TWO_64)

    def sampled(self, trace_id: str) -> bool:
        if self.rate >= 1.0:
            return True
        if self.rate <= 0.0:
            return False
        return int(trace_id[-16:], 16) < self._bound


class Span(BasicSpan):
    """basictracer's span, built in one step instead of its two-level ``__init__`` chain.

    Same attributes, same behaviour; half the cost, paid twice or more per request.
    """

    def __init__(self, tracer, operation_name, context, parent_id, tags, start_time):
        self._tracer = tracer
        self._context = context
        self._lock = threading.Lock()
        self.operation_name = operation_name
        self.start_time = start_time
        self.parent_id = parent_id
        self.tags = {} if tags is None else tags
        self.duration = -1
        self.logs = []


class Tracer(BasicTracer):
    """A ``BasicTracer`` with B3 contexts (hex IDs, sampling and debug flags) and contextvars.

    ``service_name`` becomes ``localEndpoint.serviceName`` of every span it reports.
    ``propagation`` is ``"b3multi"`` (``X-B3-*`` headers) or ``"b3single"`` (one ``b3`` header)
    for what ``inject`` writes under ``Format.HTTP_HEADERS``; ``extract`` reads every form.
    """

    def __init__(
        self,
        service_name: str,
        recorder: SpanRecorder | None = None,
        sample_rate: float = 1.0,
        *,
        propagation: str = "b3multi",
        trace_id_128bit: bool = False,
        sql_params: bool = False,
    ):
        if propagation not in ("b3multi", "b3single"):
            raise ValueError(f"TRACING_PROPAGATION is b3multi or b3single, not {propagation!r}")
        super().__init__(recorder, RateSampler(sample_rate), ContextVarsScopeManager())
        self.service_name = service_name
        self.trace_id_128bit = trace_id_128bit
        self.sql_params = sql_params  # record bind values of queries (off: they may be personal)
        # Our own propagators: basictracer's register_required_propagators() needs protobuf 3.
        headers = B3Propagator(single=propagation == "b3single")
        self.register_propagator(Format.HTTP_HEADERS, headers)
        self.register_propagator(Format.TEXT_MAP, headers)
        self.register_propagator(B3_SINGLE, B3Propagator(single=True))

    def start_span(
        self,
        operation_name=None,
        child_of=None,
        references=None,
        tags=None,
        start_time=None,
        ignore_active_span=False,
    ) -> Span:
        parent = None
        if child_of is not None:
            parent = child_of if isinstance(child_of, opentracing.SpanContext) else child_of.context
        elif references:
            if isinstance(references, opentracing.Reference):
                references = [references]
            parent = references[0].referenced_context
        if parent is None and not ignore_active_span:
            scope = _SCOPE.get(None)
            if scope is not None:
                parent = scope.span.context

        if parent is None or parent.trace_id is None:
            # A root span; a bare incoming decision (``X-B3-Sampled: 0``) still decides sampling.
            trace_id = new_trace_id(self.trace_id_128bit)
            sampled = None if parent is None else parent.sampled
            if sampled is None:
                sampled = self.sampler.sampled(trace_id)
            context = SpanContext(
                trace_id, new_id(), None, sampled, parent is not None and parent.debug
            )
        else:
            sampled = parent.sampled
            if sampled is None:  # the caller deferred the decision to us
                sampled = self.sampler.sampled(parent.trace_id)
            context = SpanContext(
                parent.trace_id,
                new_id(),
                parent.span_id,
                sampled,
                getattr(parent, "debug", False),
                parent._baggage,
            )
        return Span(
            self,
            operation_name,
            context,
            context.parent_id,
            tags,
            _time() if start_time is None else start_time,
        )


# --------------------------------------------------------------------------------------------
# Child spans of the active span, for the seams in client.py, db.py and log.py.


def active_span() -> BasicSpan | None:
    """The span active in this task (a request's SERVER span, or a local span inside it)."""
    scope = _SCOPE.get(None)
    return None if scope is None else scope.span


def mark_error(span: BasicSpan, exc: BaseException) -> None:
    """Tag ``span`` as failed with ``exc``: Zipkin shows the ``error`` tag in red."""
    span.set_tag("error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


class SpanGuard:
    """A context manager that finishes a span on exit and tags it with any exception.

    ``span`` is None when nothing is recorded; ``set_tag`` is then a no-op.
    """

    __slots__ = ("scope", "span")

    def __init__(self, span: BasicSpan | None, scope: opentracing.Scope | None = None):
        self.span = span
        self.scope = scope

    def __enter__(self) -> SpanGuard:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        span = self.span
        if span is not None:
            if exc is not None:
                mark_error(span, exc)
            if self.scope is not None:
                self.scope.close()
            span.finish()
        return False

    def set_tag(self, key: str, value: Any) -> None:
        if self.span is not None:
            self.span.set_tag(key, value)

    def set_status(self, status: int) -> None:
        """Tag the HTTP status; 5xx also marks the span as an error."""
        if self.span is not None:
            self.span.set_tag("http.status_code", status)
            if status >= 500:
                self.span.set_tag("error", str(status))


NOT_RECORDED = SpanGuard(None)


def _sampled(span) -> bool:
    # OpenTelemetry's shim has no such flag: its SDK makes unsampled spans non-recording itself.
    return getattr(span.context, "sampled", True)


def client_span(service: str, method: str, path: str, headers: dict[str, str]) -> SpanGuard:
    """A CLIENT span for a call to ``service``, with its B3 headers written into ``headers``.

    Tag the answer with ``guard.set_tag("http.status_code", status)`` inside the ``with``.
    """
    scope = _SCOPE.get(None)
    if scope is None:
        return NOT_RECORDED
    parent = scope.span
    tracer = parent.tracer
    if not _sampled(parent):
        # Nothing recorded here, but downstream must hear "not sampled" too.
        tracer.inject(parent.context, Format.HTTP_HEADERS, headers)
        return NOT_RECORDED
    span = tracer.start_span(
        method.lower(),
        child_of=parent,
        tags={
            "span.kind": "client",
            "peer.service": service,
            "http.method": method.upper(),
            "http.path": path,
        },
    )
    tracer.inject(span.context, Format.HTTP_HEADERS, headers)
    return SpanGuard(span)


def query_span(query: str, args: Any = None) -> SpanGuard:
    """A CLIENT span for one SQL statement, remote service ``postgresql``.

    The statement goes in ``sql.query``; bind values only if the tracer's ``sql_params`` is on.
    """
    scope = _SCOPE.get(None)
    if scope is None or not _sampled(scope.span):
        return NOT_RECORDED
    parent = scope.span
    tracer = parent.tracer
    verb = query.lstrip().split(None, 1)
    tags = {"span.kind": "client", "peer.service": "postgresql", "sql.query": query}
    if tracer.sql_params and args:
        tags["sql.params"] = repr(list(args))
    span = tracer.start_span(verb[0].lower() if verb else "query", child_of=parent, tags=tags)
    return SpanGuard(span)


def local_span(name: str, tags: dict[str, Any] | None = None) -> SpanGuard:
    """A local (kind-less) span made active while the ``with`` block runs: for ``@logger``."""
    scope = _SCOPE.get(None)
    if scope is None or not _sampled(scope.span):
        return NOT_RECORDED
    span = scope.span.tracer.start_span(name, child_of=scope.span, tags=tags)
    return SpanGuard(span, _ACTIVE.activate(span, False))


def traced(fn: Callable, name: str | None = None) -> Callable:
    """Wrap async ``fn`` so each call is a ``local_span`` (named after the function)."""
    name = name or fn.__qualname__

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        with local_span(name):
            return await fn(*args, **kwargs)

    return run


# --------------------------------------------------------------------------------------------
# Log correlation: ``sanic_ms.log.ContextFilter`` calls ``current_ids`` for every record.


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the active span, or None outside a traced request.

    Lines logged after the response middleware closed the request's span (an access log) still
    get the request's IDs, through Sanic's current request.
    """
    scope = _SCOPE.get(None)
    if scope is None:
        scope = _request_scope()
        if scope is None:
            return None
    context = scope.span.context
    if isinstance(context, SpanContext):
        return context.trace_id, context.span_id
    otel = context.unwrap()  # an OpenTelemetry shim context: integer IDs
    return f"{otel.trace_id:032x}", f"{otel.span_id:016x}"


def _request_scope() -> opentracing.Scope | None:
    from sanic import Request

    try:
        request = Request.get_current()
    except Exception:  # outside a request: Sanic raises ServerError
        return None
    return getattr(request.ctx, "trace_scope", None)


# --------------------------------------------------------------------------------------------
# Server side: the SERVER span per request, the tracer's lifecycle and the stats endpoint.


def server_span_name(request) -> str:
    """``get /users/<id:int>``: the route template, so names stay low-cardinality."""
    route = request.route
    method = request.method.lower()
    if route is None:
        return f"{method} not_found"
    return f"{method} /{route.path}"


async def start_server_span(request) -> None:
    """Request middleware: the SERVER span, child of the caller's context if it sent one."""
    tracer = request.app.ctx.tracer
    if tracer is None or request.path.startswith("/_tracing/"):
        return
    parent = tracer.extract(Format.HTTP_HEADERS, request.headers)
    span = tracer.start_span(
        server_span_name(request),
        child_of=parent,
        ignore_active_span=True,  # a keep-alive connection's previous request is not a parent
        tags={"span.kind": "server", "http.method": request.method, "http.path": request.path},
    )
    request.ctx.trace_scope = _ACTIVE.activate(span, False)


async def finish_server_span(request, response) -> None:
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


def build_tracer(name: str, config: Any) -> tuple[Tracer, Any]:
    """The tracer and reporter ``config`` asks for (reporter None when ZIPKIN_URL is unset).

    ``TRACING_BACKEND``: ``basic`` (basictracer and our reporter) or ``otel`` (``sanic_ms.otel``).
    """
    backend = config.get("TRACING_BACKEND", "basic")
    if backend == "otel":
        try:
            from . import otel
        except ImportError as exc:
            raise RuntimeError(
                f"TRACING_BACKEND=otel needs OpenTelemetry ({exc.name} is missing): "
                "pip install 'sanic-ms-workshop[otel]'"
            ) from exc
        return otel.build_tracer(name, config)
    if backend != "basic":
        raise ValueError(f"TRACING_BACKEND is basic or otel, not {backend!r}")
    from .zipkin import ZipkinReporter

    reporter = None
    if config.get("ZIPKIN_URL"):
        reporter = ZipkinReporter(
            config["ZIPKIN_URL"],
            name,
            queue_size=config.get("TRACING_QUEUE_SIZE", 10_000),
            batch_size=config.get("TRACING_BATCH_SIZE", 500),
            flush_interval=config.get("TRACING_FLUSH_INTERVAL", 0.5),
            post_timeout=config.get("TRACING_POST_TIMEOUT", 2.0),
            stats_interval=config.get("TRACING_STATS_INTERVAL", 60.0),
        )
    tracer = Tracer(
        name,
        reporter,
        config.get("TRACING_SAMPLE_RATE", 1.0),
        propagation=config.get("TRACING_PROPAGATION", "b3multi"),
        trace_id_128bit=config.get("TRACING_TRACE_ID_128BIT", False),
        sql_params=config.get("TRACING_SQL_PARAMS", False),
    )
    return tracer, reporter


def stats(app) -> dict[str, Any]:
    """What ``GET /_tracing/stats`` answers: settings in force and the reporter's counters."""
    tracer = getattr(app.ctx, "tracer", None)
    reporter = getattr(app.ctx, "tracing_reporter", None)
    return {
        "enabled": tracer is not None,
        "service": app.name,
        "backend": app.config.get("TRACING_BACKEND", "basic"),
        "sample_rate": None if tracer is None else app.config.get("TRACING_SAMPLE_RATE", 1.0),
        "zipkin_url": None if reporter is None else reporter.url,
        "reporter": None if reporter is None else reporter.stats(),
    }


# ``opentracing.tracer``, the global that library code written against OpenTracing uses (as the
# seed's own code did): while an app runs it is that app's tracer, so a library span started
# inside a request is a child of the request's span. Several apps in one process (the demo, a
# notebook) stack up: the latest started wins, and stopping one hands it back.
_installed: list[Any] = []
_before: tuple[Any, bool] | None = None


class _JoinRequests:
    """OpenTelemetry's shim as the global: a span started with no parent joins the request's.

    The shim only sees spans activated through OpenTelemetry's context, and ours are activated
    in the ContextVar above; our own Tracer reads that ContextVar already and needs no wrapper.
    """

    def __init__(self, shim: Any):
        self._shim = shim

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shim, name)

    def _parent(self, child_of: Any, references: Any, ignore_active_span: bool) -> Any:
        if child_of is None and not references and not ignore_active_span:
            if self._shim.active_span is None:
                return active_span()
        return child_of

    def start_span(self, operation_name=None, child_of=None, references=None, **kwargs):
        parent = self._parent(child_of, references, kwargs.get("ignore_active_span", False))
        return self._shim.start_span(operation_name, parent, references, **kwargs)

    def start_active_span(self, operation_name, child_of=None, references=None, **kwargs):
        parent = self._parent(child_of, references, kwargs.get("ignore_active_span", False))
        return self._shim.start_active_span(operation_name, parent, references, **kwargs)


def install_global_tracer(tracer: Any) -> None:
    """Make ``tracer`` ``opentracing.tracer`` until :func:`uninstall_global_tracer`."""
    global _before
    if not _installed:
        _before = (opentracing.tracer, opentracing.is_global_tracer_registered())
    _installed.append(tracer if isinstance(tracer, Tracer) else _JoinRequests(tracer))
    opentracing.set_global_tracer(_installed[-1])


def uninstall_global_tracer(tracer: Any) -> None:
    """Hand ``opentracing.tracer`` back: to the app started before, or to what it was before."""
    mine = [t for t in _installed if t is tracer or getattr(t, "_shim", None) is tracer]
    for installed in mine:
        _installed.remove(installed)
    if opentracing.tracer not in mine:
        return  # somebody else set the global since: theirs now
    if _installed:
        opentracing.set_global_tracer(_installed[-1])
    elif _before is not None:
        opentracing.tracer, opentracing.is_tracer_registered = _before


def setup(app) -> None:
    """Trace ``app``: listeners for the tracer's lifecycle, the middleware, the stats route.

    With ``TRACING_ENABLED`` false only the stats route is added, so tracing off costs nothing.
    """
    from sanic.response import json

    from . import log as sanic_ms_log

    app.ctx.tracer = None
    app.ctx.tracing_reporter = None
    sanic_ms_log.current_ids = current_ids

    @app.get(STATS_PATH, name="tracing_stats")
    async def tracing_stats(request):
        """Tracing settings in force and the reporter's counters (queued, sent, dropped...)."""
        return json({"code": 0, "data": stats(request.app)})

    if not app.config.get("TRACING_ENABLED", True):
        return

    @app.before_server_start
    async def start_tracer(app):
        tracer, reporter = build_tracer(app.name, app.config)
        if reporter is not None:
            await reporter.start()
        app.ctx.tracer, app.ctx.tracing_reporter = tracer, reporter
        install_global_tracer(tracer)

    @app.after_server_stop
    async def stop_tracer(app):
        uninstall_global_tracer(app.ctx.tracer)
        reporter = app.ctx.tracing_reporter
        if reporter is not None:
            await reporter.close(app.config.get("TRACING_FLUSH_TIMEOUT", 5.0))

    # Highest priority: the span starts before, and ends after, every other middleware.
    app.register_middleware(start_server_span, "request", priority=1000)
    app.register_middleware(finish_server_span, "response", priority=1000)
