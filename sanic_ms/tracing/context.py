"""Where the active span lives (one ``ContextVar``), and the trace IDs of the code running now.

The active span lives in a ``ContextVar``, so tasks started by ``asyncio.gather`` inherit it and
their spans become siblings. Our ``Tracer`` reads the same ContextVar; with the OpenTelemetry shim
(``TRACING_BACKEND=otel``) the span helpers always name the parent explicitly, so they never need
the shim's notion of "active".
"""

from __future__ import annotations

from typing import Any

from opentracing import Scope
from opentracing import Span as OpenTracingSpan
from opentracing.scope_managers.contextvars import _SCOPE, ContextVarsScopeManager
from sanic import Request

from .b3 import SpanContext

ACTIVE = ContextVarsScopeManager()


def active_scope() -> Scope | None:
    """The scope active in this task: what ``ACTIVE.activate`` returned and is not closed yet."""
    return _SCOPE.get(None)


def active_span() -> OpenTracingSpan | None:
    """The span active in this task (a request's SERVER span, or a local span inside it)."""
    scope = _SCOPE.get(None)
    return None if scope is None else scope.span


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the active span, or None outside a traced request.

    ``sanic_ms.log.ContextFilter`` calls it for every record. Lines logged after the response
    middleware closed the request's span (an access log) still get the request's IDs, through
    Sanic's current request.
    """
    scope = _SCOPE.get(None)
    if scope is None:
        scope = _request_scope()
        if scope is None:
            return None
    context = scope.span.context
    if isinstance(context, SpanContext):
        return str(context.trace_id), str(context.span_id)
    otel: Any = context.unwrap()  # an OpenTelemetry shim context: integer IDs
    return f"{otel.trace_id:032x}", f"{otel.span_id:016x}"


def _request_scope() -> Scope | None:
    try:
        request = Request.get_current()
    except Exception:  # outside a request: Sanic raises ServerError
        return None
    return getattr(request.ctx, "trace_scope", None)
