"""Distributed tracing: B3 context across services, a span per request, query and call, Zipkin.

- ``setup(app)`` (``server``, called by ``create_app``) traces each request in a SERVER span and
  runs the tracer (``tracer``) and its reporter (``zipkin``) while the app serves.
- ``client_span``, ``query_span`` and ``local_span`` (``spans``) open child spans of the span
  active in this task (``context``); ``current_ids`` gives ``sanic_ms.log`` the IDs of each line.
- ``b3`` reads and writes the trace headers; ``otel`` is ``TRACING_BACKEND=otel``; ``collector``
  is the local Zipkin stand-in (``python -m sanic_ms.tracing.collector``).
"""

from .b3 import SpanContext
from .context import active_span, current_ids
from .global_tracer import install_global_tracer, uninstall_global_tracer
from .server import (
    STATS_PATH,
    build_tracer,
    finish_server_span,
    server_span_name,
    setup,
    start_server_span,
    stats,
)
from .spans import NOT_RECORDED, SpanGuard, client_span, local_span, mark_error, query_span, traced
from .tracer import B3_SINGLE, RateSampler, Span, Tracer

__all__ = [
    "B3_SINGLE",
    "NOT_RECORDED",
    "STATS_PATH",
    "RateSampler",
    "Span",
    "SpanContext",
    "SpanGuard",
    "Tracer",
    "active_span",
    "build_tracer",
    "client_span",
    "current_ids",
    "finish_server_span",
    "install_global_tracer",
    "local_span",
    "mark_error",
    "query_span",
    "server_span_name",
    "setup",
    "start_server_span",
    "stats",
    "traced",
    "uninstall_global_tracer",
]
