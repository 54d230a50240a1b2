"""Lab 03: B3 headers (b3.py), Zipkin spans (zipkin.py) and reporting them (reporter.py)."""

from __future__ import annotations

import asyncio
import re

import pytest
from basictracer.recorder import InMemoryRecorder

from sanic_ms import create_app, tracing
from sanic_ms.tracing.collector import Collector, schema_errors
from sanic_ms.tracing import Tracer

TRACE, SPAN, PARENT = "463ac35c9f6413ad", "a2fb4a1d1a96d312", "0020000000000001"
HEX16 = re.compile(r"[0-9a-f]{16}")
FAST = {"TRACING_FLUSH_INTERVAL": 0.02}


def app_with(database_url, name="lab03", **settings):
    app = create_app(name, {"DATABASE_URL": database_url, **FAST, **settings})

    @app.get("/hello")
    async def hello(request):
        trace_id, span_id = tracing.current_ids() or (None, None)
        return {"trace_id": trace_id, "span_id": span_id}

    return app


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
def test_parse_multi_reads_ids_and_sampling(student):
    b3 = student.load("b3.py")
    context = b3.parse_multi(
        {
            "x-b3-traceid": TRACE,
            "x-b3-spanid": SPAN,
            "x-b3-parentspanid": PARENT,
            "x-b3-sampled": "1",
        }
    )
    got = (context.trace_id, context.span_id, context.parent_id, context.sampled)
    assert got == (TRACE, SPAN, PARENT, True), (
        f"parse_multi should read trace id, span id, parent id and sampled=True; got {got}"
    )
    unsampled = b3.parse_multi({"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-sampled": "0"})
    assert unsampled.sampled is False and unsampled.parent_id is None, (
        "X-B3-Sampled: 0 means sampled=False, and no X-B3-ParentSpanId means parent_id=None"
    )
    assert b3.parse_multi({}) is None, "no X-B3 headers at all: parse_multi should return None"


@pytest.mark.task(1)
def test_malformed_ids_are_refused(student):
    b3 = student.load("b3.py")
    with pytest.raises(b3.Malformed):
        b3.parse_multi({"x-b3-traceid": "not-hex!", "x-b3-spanid": SPAN})
    assert b3.extract({"X-B3-TraceId": "zzz", "X-B3-SpanId": SPAN}) is None, (
        "a malformed trace id must not fail the request: extract() then starts a new trace"
    )


@pytest.mark.task(1)
@pytest.mark.parametrize(
    "headers, what",
    [
        ({"x-b3-traceid": TRACE, "x-b3-spanid": "xyz"}, "a span id that is not 16 hex digits"),
        ({"x-b3-traceid": TRACE, "x-b3-spanid": "0" * 16}, "an all-zero span id"),
        (
            {"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-parentspanid": "parent!"},
            "a parent span id that is not 16 hex digits",
        ),
        ({"x-b3-spanid": SPAN}, "a span id without a trace id"),
        ({"x-b3-traceid": TRACE}, "a trace id without a span id"),
    ],
)
def test_parse_multi_refuses_what_b3_does_not_allow(student, headers, what):
    b3 = student.load("b3.py")
    try:
        context = b3.parse_multi(headers)
    except b3.Malformed:
        return
    pytest.fail(
        f"parse_multi({headers}) should raise Malformed ({what}: check every id with "
        f"_trace_id / _span_id); it returned {context!r}",
        pytrace=False,
    )


@pytest.mark.task(1)
def test_a_sampling_decision_or_debug_flag_alone_is_kept(student):
    b3 = student.load("b3.py")
    alone = b3.parse_multi({"x-b3-sampled": "0"})
    assert alone is not None and alone.sampled is False and alone.trace_id is None, (
        "X-B3-Sampled: 0 without ids is still the caller's decision: parse_multi should return "
        f"SpanContext(sampled=False) (no trace id), not start a sampled trace; got {alone!r}"
    )
    debug = b3.parse_multi({"x-b3-flags": "1"})
    assert debug is not None and debug.debug is True, (
        "X-B3-Flags: 1 alone asks for a debug trace: parse_multi should return "
        f"SpanContext(debug=True); got {debug!r}"
    )
    with_ids = b3.parse_multi({"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-flags": "1"})
    assert with_ids.debug is True, (
        f"X-B3-Flags: 1 with ids should give debug=True; got {with_ids!r}"
    )
    spelled = b3.parse_multi({"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-sampled": "True "})
    assert spelled.sampled is True, (
        'X-B3-Sampled: "True " (old tracers send true/false, any case, maybe with spaces) '
        f"means sampled: strip and lowercase it before _sampled_flag; got {spelled!r}"
    )


@pytest.mark.task(1)
async def test_the_server_joins_the_callers_trace(student, database_url, serve):
    student.plug("b3.py")
    async with serve(app_with(database_url)) as served:
        joined = await served.get("/hello", headers={"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN})
        fresh = await served.get("/hello")
    assert joined.status == 200, f"GET /hello with X-B3 headers should answer 200; got {joined}"
    assert joined.body["data"]["trace_id"] == TRACE, (
        f"a request carrying X-B3-TraceId: {TRACE} should be served in that trace; the handler "
        f"saw trace id {joined.body['data']['trace_id']!r}"
    )
    new = fresh.body["data"]["trace_id"] or ""
    assert HEX16.fullmatch(new) and new != TRACE, (
        f"a request without trace headers starts a new trace; got trace id {new!r}"
    )


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
def test_inject_multi_writes_the_headers(student):
    b3 = student.load("b3.py")

    def injected(context):
        carrier = {}
        b3.inject_multi(context, carrier)
        # HTTP header names are case-insensitive: X-B3-TraceId and x-b3-traceid are the same.
        return {str(name).lower(): value for name, value in carrier.items()}

    carrier = injected(b3.SpanContext(TRACE, SPAN, PARENT, True))
    expected = {
        "x-b3-traceid": TRACE,
        "x-b3-spanid": SPAN,
        "x-b3-parentspanid": PARENT,
        "x-b3-sampled": "1",
    }
    assert carrier == expected, (
        f"a sampled span with a parent should be written as {expected}; inject_multi wrote "
        f"{carrier}"
    )
    root = injected(b3.SpanContext(TRACE, SPAN, None, None, debug=True))
    assert root == {"x-b3-traceid": TRACE, "x-b3-spanid": SPAN, "x-b3-flags": "1"}, (
        "a root span (no parent) in debug mode: no X-B3-ParentSpanId, X-B3-Flags: 1 and no "
        f"X-B3-Sampled; inject_multi wrote {root}"
    )
    both = injected(b3.SpanContext(TRACE, SPAN, None, True, debug=True))
    assert both.get("x-b3-flags") == "1" and "x-b3-sampled" not in both, (
        "debug implies sampled: a debug span that is also sampled gets X-B3-Flags: 1 and no "
        f"X-B3-Sampled (B3 says to leave it out); inject_multi wrote {both}"
    )
    unsampled = injected(b3.SpanContext(TRACE, SPAN, None, False))
    assert unsampled.get("x-b3-sampled") == "0", (
        "sampled=False is a decision too: it must travel as X-B3-Sampled: 0, or the next "
        f"service samples the trace itself; inject_multi wrote {unsampled}"
    )
    undecided = injected(b3.SpanContext(TRACE, SPAN, None, None))
    assert "x-b3-sampled" not in undecided and "x-b3-flags" not in undecided, (
        f"no sampling decision (sampled=None): write neither X-B3-Sampled nor X-B3-Flags; got "
        f"{undecided}"
    )


@pytest.mark.task(2)
async def test_a_downstream_call_carries_the_trace(student, database_url, serve):
    student.plug("b3.py")
    downstream = create_app("lab03-downstream", {"DATABASE_URL": database_url})

    @downstream.get("/headers")
    async def headers(request):
        return {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("x-b3")}

    async with serve(downstream) as down:
        caller = app_with(database_url, "lab03-caller", SERVICES={"down": down.url})

        @caller.get("/hop")
        async def hop(request):
            return await request.app.ctx.clients.down.get("/headers", request=request)

        async with serve(caller) as served:
            reply = await served.get(
                "/hop", headers={"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN, "X-B3-Sampled": "1"}
            )
    assert reply.status == 200, f"GET /hop should answer 200; got {reply}"
    seen = reply.body["data"]
    assert seen.get("x-b3-traceid") == TRACE, (
        f"the downstream call should carry the caller's trace id {TRACE}; it saw {seen}"
    )
    span = seen.get("x-b3-spanid", "")
    assert HEX16.fullmatch(span) and span != SPAN and seen.get("x-b3-parentspanid"), (
        "the downstream call is a new (client) span: its own X-B3-SpanId and an "
        f"X-B3-ParentSpanId; it saw {seen}"
    )
    assert seen.get("x-b3-sampled") == "1", f"the sampling decision travels too; it saw {seen}"


# ---------------------------------------------------------------------------------------- task 3


def finished_spans():
    recorder = InMemoryRecorder()
    tracer = Tracer("users", recorder)
    tags = {"span.kind": "server", "http.status_code": 200, "http.method": "GET"}
    with tracer.start_active_span("GET /users/<id:int>", tags=tags):
        with tracer.start_active_span("cities", tags={"span.kind": "client", "peer.service": "Cities"}):
            pass
    child, root = recorder.get_spans()
    return root, child


@pytest.mark.task(3)
def test_a_server_span_becomes_zipkin_v2_json(student):
    zipkin = student.load("zipkin.py")
    root, _ = finished_spans()
    out = zipkin.to_zipkin(root, {"serviceName": "users"})
    assert schema_errors([out]) == [], (
        f"the span must match Zipkin's v2 schema (specs/zipkin2-api.yaml): {schema_errors([out])}"
    )
    expected = {
        "traceId": root.context.trace_id,
        "id": root.context.span_id,
        "name": "get /users/<id:int>",
        "kind": "SERVER",
        "localEndpoint": {"serviceName": "users"},
    }
    assert {k: out.get(k) for k in expected} == expected, f"to_zipkin gave {out}"
    assert out["timestamp"] == int(root.start_time * 1_000_000) and out["duration"] >= 1, (
        "timestamp and duration are integers in microseconds (start_time is in seconds)"
    )
    assert out.get("tags") == {"http.status_code": "200", "http.method": "GET"}, (
        f"other tags go to tags, as strings (span.kind is not a tag in Zipkin); got {out.get('tags')}"
    )


@pytest.mark.task(3)
def test_durations_and_annotations_are_in_microseconds(student):
    zipkin = student.load("zipkin.py")
    recorder = InMemoryRecorder()
    tracer = Tracer("users", recorder)
    span = tracer.start_span("query", start_time=1_700_000_000.0)
    span.log_kv({"event": "cache miss"}, timestamp=1_700_000_000.1)
    span.finish(finish_time=1_700_000_000.25)
    out = zipkin.to_zipkin(recorder.get_spans()[0], {"serviceName": "users"})
    assert out.get("timestamp") == 1_700_000_000_000_000, (
        f"timestamp is the start in microseconds since the epoch; got {out.get('timestamp')!r}"
    )
    assert out.get("duration") == 250_000, (
        "a span of 0.25 s lasts 250000 microseconds (Zipkin counts in µs, not ms); got "
        f"duration {out.get('duration')!r}"
    )
    assert out.get("annotations") == [
        {"timestamp": 1_700_000_000_100_000, "value": "cache miss"}
    ], (
        "each span.log_kv(...) becomes an annotation {timestamp in µs, value}; an event alone "
        f"is its value. Got annotations {out.get('annotations')!r}"
    )


@pytest.mark.task(3)
def test_a_client_span_names_its_parent_and_remote_service(student):
    zipkin = student.load("zipkin.py")
    root, child = finished_spans()
    out = zipkin.to_zipkin(child, {"serviceName": "users"})
    assert out.get("parentId") == root.context.span_id, f"parentId missing or wrong in {out}"
    assert out.get("kind") == "CLIENT", f"kind should be CLIENT in {out}"
    assert out.get("remoteEndpoint") == {"serviceName": "cities"}, (
        f"peer.service goes to remoteEndpoint.serviceName, lowercased; got {out}"
    )
    assert "parentId" not in zipkin.to_zipkin(root, {"serviceName": "users"}), (
        "a root span has no parentId key at all"
    )


# ---------------------------------------------------------------------------------------- task 4


class FakeSpan:
    def __init__(self, sampled=True):
        self.context = type("Context", (), {"sampled": sampled})()


@pytest.mark.task(4)
async def test_record_span_queues_and_drops_when_full_without_waiting(student):
    reporter_py = student.load("reporter.py")
    reporter = reporter_py.ZipkinReporter("http://127.0.0.1:9", "users", queue_size=2)
    for _ in range(3):
        reporter.record_span(FakeSpan())
    reporter.record_span(FakeSpan(sampled=False))
    got = (reporter.queue.qsize(), reporter.queued, reporter.dropped)
    assert got == (2, 2, 0 + 1), (
        "with room for 2 spans, 3 sampled spans: 2 queued, 1 dropped (never wait for room), "
        f"and the unsampled one ignored; got (in queue, queued, dropped) = {got}"
    )


@pytest.mark.task(4)
async def test_a_closed_reporter_drops_and_counts(student):
    reporter_py = student.load("reporter.py")
    reporter = reporter_py.ZipkinReporter("http://127.0.0.1:9", "users", queue_size=10)
    await reporter.close(within=0.1)
    reporter.record_span(FakeSpan())
    got = (reporter.queue.qsize(), reporter.queued, reporter.dropped)
    assert got == (0, 0, 1), (
        "after close() nothing will ever post the queue: a span recorded then is dropped and "
        f"counted (self._closed); got (in queue, queued, dropped) = {got}"
    )


@pytest.mark.task(4)
async def test_a_full_batch_is_posted_without_waiting_for_the_interval(student):
    reporter_py = student.load("reporter.py")
    root, child = finished_spans()
    async with Collector(validate=True) as collector:
        reporter = reporter_py.ZipkinReporter(
            collector.url, "users", batch_size=2, flush_interval=30.0
        )
        await reporter.start()
        try:
            # Let the background task start its 30 s wait, then fill a batch.
            await asyncio.sleep(0.05)
            reporter.record_span(root)
            reporter.record_span(child)
            try:
                await asyncio.wait_for(collector.wait_for_spans(2), 3)
            except TimeoutError:
                pytest.fail(
                    "2 spans filled a batch (batch_size=2), but nothing reached the collector "
                    "within 3 s (flush_interval is 30 s): when the queue reaches batch_size, "
                    "`self._wake.set()` must wake the background task to post early.",
                    pytrace=False,
                )
        finally:
            await reporter.close(within=1)


def _watch_record_span(reporter) -> list[BaseException]:
    """The exceptions ``reporter.record_span`` raises from now on (the list fills as they come)."""
    raised: list[BaseException] = []
    record = getattr(reporter, "record_span", None)
    if record is None:  # no reporter: nothing to watch, the test just waits
        return raised

    def watched(span):
        try:
            return record(span)
        except Exception as exc:
            raised.append(exc)
            raise

    try:
        reporter.record_span = watched
    except AttributeError:  # a reporter with __slots__: not watched, the test just waits
        pass
    return raised


@pytest.mark.task(4)
async def test_spans_reach_the_collector(student, database_url, serve):
    student.plug("reporter.py")
    async with Collector(validate=True) as collector:
        app = app_with(database_url, ZIPKIN_URL=collector.url)
        async with serve(app) as served:
            raised = _watch_record_span(getattr(app.ctx, "tracing_reporter", None))
            reply = await served.get("/hello", headers={"X-B3-TraceId": TRACE, "X-B3-SpanId": SPAN})
            # The server span was recorded before the reply left (a response middleware): when
            # record_span raised, no span will come; say so now rather than after the 2 s wait.
            if raised:
                pytest.fail(
                    f"recording the span of GET /hello raised {raised[0]!r}: record_span must "
                    "queue the span (no span can reach the Zipkin collector)",
                    pytrace=False,
                )
            try:
                await asyncio.wait_for(collector.wait_for_spans(1), 2)
            except TimeoutError:
                pytest.fail("no span reached the Zipkin collector within 2 s of GET /hello")
    assert reply.status == 200, f"GET /hello should answer 200; got {reply}"
    server = [s for s in collector.spans if s.get("kind") == "SERVER"]
    assert server and server[0]["traceId"] == TRACE and server[0]["parentId"] == SPAN, (
        f"the collector should get the SERVER span of GET /hello in trace {TRACE}; got {collector.spans}"
    )
    assert collector.invalid == [], f"the collector refused batches: {collector.invalid}"
