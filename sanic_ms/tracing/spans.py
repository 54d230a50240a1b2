"""Child spans of the active span, for the seams in ``client.py``, ``db.py`` and ``log.py``.

``client_span``, ``query_span`` and ``local_span`` open a child of whatever span is active in this
task. With no active span (outside a request, or tracing off) or an unsampled one they cost next
to nothing and record nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from opentracing import Format, Scope
from opentracing import Span as OpenTracingSpan
from opentracing.scope_managers.contextvars import _SCOPE

from .context import ACTIVE

P = ParamSpec("P")
R = TypeVar("R")


def mark_error(span: OpenTracingSpan, exc: BaseException) -> None:
    """Tag ``span`` as failed with ``exc``: Zipkin shows the ``error`` tag in red."""
    span.set_tag("error", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


class SpanGuard:
    """A context manager that finishes a span on exit and tags it with any exception.

    ``span`` is None when nothing is recorded; ``set_tag`` is then a no-op.
    """

    __slots__ = ("scope", "span")

    def __init__(self, span: OpenTracingSpan | None, scope: Scope | None = None) -> None:
        self.span = span
        self.scope = scope

    def __enter__(self) -> SpanGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        if span is not None:
            if exc is not None:
                mark_error(span, exc)
            if self.scope is not None:
                self.scope.close()
            span.finish()

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


def _sampled(span: OpenTracingSpan) -> bool:
    # OpenTelemetry's shim has no such flag: its SDK makes unsampled spans non-recording itself.
    return bool(getattr(span.context, "sampled", True))


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
    return SpanGuard(span, ACTIVE.activate(span, False))


def traced(fn: Callable[P, Awaitable[R]], name: str | None = None) -> Callable[P, Awaitable[R]]:
    """Wrap async ``fn`` so each call is a ``local_span`` (named after the function)."""
    span_name = name or fn.__qualname__

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with local_span(span_name):
            return await fn(*args, **kwargs)

    return run
