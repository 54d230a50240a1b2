"""The tracing package's public surface, log lines' trace IDs, and settings read from one place."""

from __future__ import annotations

import logging

from basictracer.recorder import InMemoryRecorder

from sanic_ms import settings, tracing
from sanic_ms.log import ContextFilter
from sanic_ms.tracing.context import ACTIVE


def test_all_is_sorted_and_every_name_exists():
    assert tracing.__all__ == sorted(tracing.__all__, key=lambda n: (not n.isupper(), n))
    missing = [name for name in tracing.__all__ if not hasattr(tracing, name)]
    assert missing == []


def test_a_log_line_inside_a_span_carries_its_ids_without_any_app():
    tracer = tracing.Tracer("users", InMemoryRecorder())
    span = tracer.start_span("work")
    record = logging.LogRecord("sanic_ms", logging.INFO, __file__, 1, "inside", None, None)
    with ACTIVE.activate(span, True):
        ContextFilter().filter(record)
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    outside = logging.LogRecord("sanic_ms", logging.INFO, __file__, 1, "outside", None, None)
    ContextFilter().filter(outside)
    assert not hasattr(outside, "trace_id")


def test_settings_left_out_come_from_sanic_ms_settings():
    tracer, reporter = tracing.build_tracer("users", {"ZIPKIN_URL": "http://127.0.0.1:9"})
    assert tracer.sampler.rate == settings.TRACING_SAMPLE_RATE
    assert reporter.batch_size == settings.TRACING_BATCH_SIZE
    assert reporter.queue.maxsize == settings.TRACING_QUEUE_SIZE
    assert tracing.build_tracer("users", {})[1] is None  # no ZIPKIN_URL: nothing reported
