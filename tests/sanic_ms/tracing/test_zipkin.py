"""Zipkin v2 conversion and the non-blocking reporter, against the in-process collector."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from sanic_ms.serve import free_port
from sanic_ms.tracing import Tracer
from sanic_ms.tracing.collector import SPEC, Collector, schema_errors
from sanic_ms.tracing.reporter import ZipkinReporter
from sanic_ms.tracing.zipkin import to_zipkin

SHARED_SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "zipkin2-api.yaml"
HEX16 = re.compile(r"[0-9a-f]{16}")
HEX16_32 = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


@pytest.mark.skipif(not SHARED_SPEC.exists(), reason="../shared/specs is not here")
def test_spec_copy_is_byte_identical_to_shared():
    assert SPEC.read_bytes() == SHARED_SPEC.read_bytes()


def _finished_spans(tracer: Tracer) -> list:
    """A small tree: server -> (client to cities, db query with an error, local with a log)."""
    spans = []
    tracer.recorder.record_span = spans.append
    with tracer.start_active_span(
        "GET /users/<id:int>", tags={"span.kind": "server", "http.status_code": 200}
    ):
        with tracer.start_span(
            "get", tags={"span.kind": "client", "peer.service": "Cities", "peer.port": 8002}
        ):
            pass
        span = tracer.start_span("select", tags={"span.kind": "client", "error": True})
        span.log_kv({"event": "error", "message": "boom"})
        span.finish()
        local = tracer.start_span("helper")
        local.log_kv({"event": "cache miss"})
        local.finish()
    return spans


def test_conversion_maps_kinds_endpoints_tags_and_annotations():
    tracer = Tracer("Users", ZipkinReporter("http://127.0.0.1:9", "Users"))
    client, query, local, server = (
        to_zipkin(s, {"serviceName": "users"}) for s in _finished_spans(tracer)
    )
    assert server["kind"] == "SERVER" and "parentId" not in server
    assert server["name"] == "get /users/<id:int>"  # Zipkin wants lowercase names
    assert server["tags"] == {"http.status_code": "200"}  # tag values are strings
    assert client["kind"] == "CLIENT" and client["parentId"] == server["id"]
    assert client["remoteEndpoint"] == {"serviceName": "cities", "port": 8002}
    assert "tags" not in client  # span.kind / peer.* became fields, not tags
    assert query["tags"] == {"error": "true"}
    assert query["annotations"][0]["value"] == "event=error message=boom"
    assert local["annotations"][0]["value"] == "cache miss" and "kind" not in local
    for span in (client, query, local, server):
        assert HEX16_32.fullmatch(span["traceId"]) and HEX16.fullmatch(span["id"])
        assert span["traceId"] == server["traceId"]
        assert span["duration"] >= 1 and span["timestamp"] > 1_600_000_000_000_000
        assert span["localEndpoint"] == {"serviceName": "users"}
    assert schema_errors([client, query, local, server]) == []


def test_schema_check_catches_what_zipkin_would_refuse():
    bad = {"traceId": "x" * 16, "id": "a" * 16, "tags": {"status": 200}, "kind": "LOCAL"}
    errors = schema_errors([bad])
    assert any("traceId" in e for e in errors)
    assert any("tags/status" in e for e in errors)
    assert any("kind" in e for e in errors)


async def _reporter(url: str, **kwargs) -> tuple[Tracer, ZipkinReporter]:
    options = {"flush_interval": 0.02, "post_timeout": 0.5, "min_backoff": 0.05} | kwargs
    reporter = ZipkinReporter(url, "users", **options)
    await reporter.start()
    return Tracer("users", reporter), reporter


def _make_spans(tracer: Tracer, count: int) -> None:
    for i in range(count):
        with tracer.start_active_span(f"op {i % 3}", tags={"span.kind": "server"}):
            tracer.start_span("select", tags={"span.kind": "client"}).finish()


async def test_reporter_posts_valid_batches():
    async with Collector(validate=True) as collector:
        tracer, reporter = await _reporter(collector.url, batch_size=7)
        _make_spans(tracer, 20)
        await collector.wait_for_spans(40)
        await reporter.close()
    assert collector.invalid == []
    assert all(len(batch) <= 7 for batch in collector.batches)
    assert all(schema_errors(batch) == [] for batch in collector.batches)
    assert reporter.stats() | {"backoff_seconds": 0} == {
        "queued": 40,
        "sent": 40,
        "dropped": 0,
        "unknown": 0,
        "failed_posts": 0,
        "batches": collector.batch_count,
        "queue_depth": 0,
        "backoff_seconds": 0,
    }


async def test_full_queue_drops_and_counts_without_blocking():
    # Not started: nothing drains the queue, so the 6th span on has nowhere to go.
    reporter = ZipkinReporter("http://127.0.0.1:9", "users", queue_size=5)
    _make_spans(Tracer("users", reporter), 4)
    assert (reporter.queued, reporter.dropped, reporter.queue.qsize()) == (5, 3, 5)


async def test_unsampled_spans_are_not_queued():
    reporter = ZipkinReporter("http://127.0.0.1:9", "users")
    _make_spans(Tracer("users", reporter, sample_rate=0.0), 3)
    assert reporter.queued == reporter.dropped == 0


async def _wait(predicate, within: float = 5.0) -> None:
    """Poll the reporter's counters (they have no event to wait on) until ``predicate`` holds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_collector_down_counts_failures_and_backs_off():
    tracer, reporter = await _reporter(f"http://127.0.0.1:{free_port()}")
    try:
        _make_spans(tracer, 3)
        await _wait(lambda: reporter.failed_posts == 1)
        first_backoff = reporter.backoff
        _make_spans(tracer, 1)
        await _wait(lambda: reporter.failed_posts == 2)
        assert (reporter.dropped, reporter.sent) == (8, 0)
        assert reporter.backoff == 2 * first_backoff > 0
    finally:
        await reporter.close(within=1.0)
    assert reporter.queued == reporter.sent + reporter.dropped


@pytest.mark.parametrize("mode", ["error", "stall"])
async def test_failing_collector_drops_spans_then_recovers(mode):
    async with Collector(mode=mode) as collector:
        tracer, reporter = await _reporter(collector.url, post_timeout=0.2)
        _make_spans(tracer, 2)
        await _wait(lambda: reporter.failed_posts >= 1)
        # A 500 is a verdict: lost. Silence after the body went out: maybe delivered, unknown.
        lost = (reporter.dropped, reporter.unknown)
        assert lost == ((4, 0) if mode == "error" else (0, 4)) and reporter.sent == 0
        collector.mode = "ok"
        _make_spans(tracer, 1)
        await collector.wait_for_spans(2)
        await _wait(lambda: reporter.sent == 2)
        assert reporter.backoff == 0.0
        await reporter.close()
    assert reporter.queued == 6 and reporter.dropped + reporter.unknown == 4


async def test_a_post_answered_too_late_is_unknown_not_dropped():
    # The collector takes every batch but answers after the reporter stopped waiting.
    async with Collector(delay=0.4) as collector:
        tracer, reporter = await _reporter(collector.url, post_timeout=0.1)
        _make_spans(tracer, 3)
        await _wait(lambda: reporter.failed_posts == 1)
        await collector.wait_for_spans(6)  # it did arrive
        await reporter.close(within=1.0)
    assert (reporter.sent, reporter.dropped, reporter.unknown) == (0, 0, 6)


async def test_a_refused_connection_is_dropped_not_unknown():
    tracer, reporter = await _reporter(f"http://127.0.0.1:{free_port()}")
    try:
        _make_spans(tracer, 2)
        await _wait(lambda: reporter.failed_posts == 1)
    finally:
        await reporter.close(within=1.0)
    assert (reporter.dropped, reporter.unknown) == (4, 0)


async def test_close_flushes_what_is_queued():
    async with Collector() as collector:
        # A flush interval far longer than the test: only close() can send these.
        tracer, reporter = await _reporter(collector.url, flush_interval=60)
        _make_spans(tracer, 5)
        await reporter.close(within=5.0)
        assert len(collector.spans) == 10
    assert reporter.sent == 10 and reporter.queue.qsize() == 0


async def test_close_gives_up_on_a_stalling_collector_and_counts_the_loss():
    async with Collector(mode="stall") as collector:
        tracer, reporter = await _reporter(collector.url, flush_interval=60, post_timeout=30)
        _make_spans(tracer, 5)
        async with asyncio.timeout(10):  # a hang guard, far above the 0.3 s limit
            await reporter.close(within=0.3)
        assert collector.posts >= 1
    # The batch went out and the collector never answered: whether it arrived is unknown.
    assert (reporter.sent, reporter.dropped, reporter.unknown) == (0, 0, 10)
    _make_spans(tracer, 1)  # after close: dropped, never raises
    assert reporter.dropped == 2


async def test_counters_show_in_the_log(caplog):
    async with Collector() as collector:
        tracer, reporter = await _reporter(collector.url, stats_interval=0.01)
        with caplog.at_level("INFO", logger="sanic_ms.tracing"):
            _make_spans(tracer, 2)
            await collector.wait_for_spans(4)
            await _wait(lambda: any("'sent': 4" in r.getMessage() for r in caplog.records))
            await reporter.close()
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("tracing reporter closed:") for line in lines)


async def test_a_span_zipkin_cannot_take_is_dropped_alone():
    async with Collector(validate=True) as collector:
        tracer, reporter = await _reporter(collector.url)
        tracer.start_span("odd", tags={"span.kind": "client", "peer.port": "abc"}).finish()
        _make_spans(tracer, 1)
        await collector.wait_for_spans(2)
        await reporter.close()
    assert (reporter.sent, reporter.dropped) == (2, 1) and collector.invalid == []


async def test_a_dead_collector_leaves_one_probe_batch_queued():
    tracer, reporter = await _reporter(f"http://127.0.0.1:{free_port()}", batch_size=5)
    try:
        _make_spans(tracer, 10)  # 20 spans: wakes the reporter, whose post fails
        await _wait(lambda: reporter.failed_posts == 1)
        _make_spans(tracer, 10)  # while backing off: only a batch is kept for the next try
        assert reporter.queue.qsize() == 5
        assert reporter.dropped == 35  # 5 posted and lost, 10 trimmed, 20 refused
    finally:
        await reporter.close(within=1.0)
    assert (reporter.sent, reporter.dropped) == (0, 40)  # every span accounted for, once


async def test_spans_leave_in_batches_not_one_post_per_wakeup():
    # Spans keep finishing while posts are in flight; each wake posts what waits, then only
    # full batches, so the post count stays near wakes + spans / batch size.
    async with Collector(delay=0.01) as collector:
        tracer, reporter = await _reporter(collector.url, flush_interval=0.05, batch_size=50)
        loop = asyncio.get_running_loop()
        began = loop.time()
        for _ in range(100):
            _make_spans(tracer, 5)
            await asyncio.sleep(0.005)
        await collector.wait_for_spans(1000)
        elapsed = loop.time() - began
        await reporter.close()
    assert len(collector.spans) == 1000
    assert collector.batch_count <= elapsed / 0.05 + 1000 / 50 + 2, collector.batch_count
