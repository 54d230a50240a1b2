"""The tracer: basictracer with B3 span contexts, sampling by trace ID, and contextvars.

``Tracer`` starts spans as children of the span active in this task (``context.ACTIVE``), gives
them B3 IDs (hex) and a sampling decision, and hands finished ones to its recorder: the
``reporter.ZipkinReporter`` that posts them to Zipkin from a background task.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import opentracing
from basictracer import BasicTracer
from basictracer.recorder import Sampler, SpanRecorder
from basictracer.span import BasicSpan
from opentracing import Format
from opentracing.scope_managers.contextvars import _SCOPE, ContextVarsScopeManager

from .b3 import B3Propagator, SpanContext, new_id, new_trace_id

B3_SINGLE = "b3_single"  # an extra inject/extract format: one ``b3`` header

_TWO_64 = 1 << 64
_time = time.time


class RateSampler(Sampler):  # type: ignore[misc]  # basictracer ships no types
    """Keep a fraction ``rate`` (0.0-1.0) of traces, decided from the trace ID.

    Deciding from the ID rather than at random means every service that makes a decision for
    the same trace makes the same one.
    """

    def __init__(self, rate: float) -> None:
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


# One lock for every span's rare locked operations (baggage, logs, renaming): a span is written
# by the task that owns it, and a lock per span cost as much as the rest of its construction.
_SPAN_LOCK = threading.Lock()


class Span(BasicSpan):  # type: ignore[misc]  # basictracer ships no types
    """basictracer's span, built in one step instead of its two-level ``__init__`` chain.

    Same attributes, same behaviour; half the cost, paid twice or more per request. ``set_tag``
    and ``finish``, called on every span, take no lock: one dict store, and a span finishes once.
    """

    _lock = _SPAN_LOCK

    def __init__(
        self,
        tracer: Tracer,
        operation_name: str | None,
        context: SpanContext,
        parent_id: str | None,
        tags: dict[str, Any] | None,
        start_time: float,
    ) -> None:
        self._tracer = tracer
        self._context = context
        self.operation_name = operation_name
        self.start_time = start_time
        self.parent_id = parent_id
        self.tags = {} if tags is None else tags
        self.duration: float = -1
        self.logs: list[Any] = []

    def set_tag(self, key: str, value: Any) -> Span:
        if key == "sampling.priority":  # opentracing.ext.tags.SAMPLING_PRIORITY
            self._context.sampled = value > 0
        self.tags[key] = value
        return self

    def finish(self, finish_time: float | None = None) -> None:
        self.duration = (_time() if finish_time is None else finish_time) - self.start_time
        self._tracer.record(self)


class Tracer(BasicTracer):  # type: ignore[misc]  # basictracer ships no types
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
    ) -> None:
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
        operation_name: str | None = None,
        child_of: opentracing.Span | opentracing.SpanContext | None = None,
        references: opentracing.Reference | list[opentracing.Reference] | None = None,
        tags: dict[str, Any] | None = None,
        start_time: float | None = None,
        ignore_active_span: bool = False,
    ) -> Span:
        parent: Any = None
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
