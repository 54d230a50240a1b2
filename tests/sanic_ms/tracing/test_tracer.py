"""The tracer: parent links through contextvars, sampling, the span helpers, one app's spans."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import opentracing
import pytest
from basictracer.recorder import InMemoryRecorder
from opentracing import Format

from sanic_ms import create_app, logger, tracing
from sanic_ms.serve import serve
from sanic_ms.tracing import RateSampler, Tracer
from sanic_ms.tracing.b3 import SpanContext
from sanic_ms.tracing.collector import Collector


def make_tracer(**kwargs) -> tuple[Tracer, InMemoryRecorder]:
    recorder = InMemoryRecorder()
    return Tracer("users", recorder, **kwargs), recorder


async def test_parallel_tasks_get_sibling_spans():
    tracer, recorder = make_tracer()

    async def call(service):
        with tracing.client_span(service, "GET", f"/{service}/1", {}):
            await asyncio.sleep(0.01)

    with tracer.start_active_span("get /users/<id:int>") as scope:
        await asyncio.gather(call("cities"), call("roles"))
    root = scope.span
    children = [s for s in recorder.get_spans() if s is not root]
    assert len(children) == 2
    assert {s.parent_id for s in children} == {root.context.span_id}
    assert {s.context.trace_id for s in children} == {root.context.trace_id}
    assert tracing.active_span() is None  # nothing leaks out of the block


async def test_local_span_nests_and_restores_the_parent():
    tracer, recorder = make_tracer()
    with tracer.start_active_span("server") as scope:
        with tracing.local_span("helper"):
            inner = tracing.active_span()
            with tracing.query_span("SELECT 1"):
                pass
        assert tracing.active_span() is scope.span
    query, helper, server = recorder.get_spans()
    assert helper is inner and helper.parent_id == server.context.span_id
    assert query.parent_id == helper.context.span_id


async def test_query_span_finishes_and_tags_the_error_when_the_query_raises():
    tracer, recorder = make_tracer()
    with tracer.start_active_span("server"):
        with pytest.raises(ValueError), tracing.query_span("SELECT broken", [1, "secret"]):
            raise ValueError("relation does not exist")
    query = recorder.get_spans()[0]
    assert query.duration >= 0
    assert query.tags["error"] == "ValueError: relation does not exist"
    assert query.tags["sql.query"] == "SELECT broken" and "sql.params" not in query.tags


def test_bind_values_only_when_the_setting_says_so():
    tracer, recorder = make_tracer(sql_params=True)
    with tracer.start_active_span("server"), tracing.query_span("SELECT $1", ("x",)):
        pass
    assert recorder.get_spans()[0].tags["sql.params"] == "['x']"


def test_helpers_do_nothing_outside_a_traced_request():
    headers: dict[str, str] = {}
    with tracing.client_span("cities", "GET", "/cities/1", headers) as guard:
        guard.set_status(500)
    assert guard.span is None and headers == {}
    assert tracing.query_span("SELECT 1").span is None
    assert tracing.current_ids() is None


def test_unsampled_request_propagates_the_no_and_records_nothing():
    tracer, recorder = make_tracer(sample_rate=0.0)
    headers: dict[str, str] = {}
    with tracer.start_active_span("server") as scope:
        with tracing.client_span("cities", "GET", "/cities/1", headers):
            pass
        with tracing.query_span("SELECT 1"):
            pass
    assert headers["X-B3-Sampled"] == "0"
    assert headers["X-B3-TraceId"] == scope.span.context.trace_id
    # The tracer still hands spans to the recorder; the Zipkin reporter ignores unsampled ones.
    assert [s.context.sampled for s in recorder.get_spans()] == [False]


def test_incoming_decision_beats_the_rate_and_deferred_uses_it():
    tracer, _ = make_tracer(sample_rate=0.0)
    yes = SpanContext("a" * 16, "b" * 16, sampled=True)
    deferred = SpanContext("a" * 16, "b" * 16, sampled=None)
    debug = SpanContext("a" * 16, "b" * 16, sampled=None, debug=True)
    assert tracer.start_span("x", child_of=yes).context.sampled is True
    assert tracer.start_span("x", child_of=deferred).context.sampled is False
    assert tracer.start_span("x", child_of=debug).context.sampled is True
    no = SpanContext(sampled=False)  # a bare "X-B3-Sampled: 0"
    span = Tracer("users", InMemoryRecorder(), 1.0).start_span("x", child_of=no)
    assert span.context.sampled is False and len(span.context.trace_id) == 16


def test_rate_sampler_keeps_about_that_fraction_and_agrees_across_services():
    from sanic_ms.tracing.b3 import new_trace_id

    ids = [new_trace_id() for _ in range(4000)]
    kept = sum(RateSampler(0.25).sampled(i) for i in ids)
    assert 800 < kept < 1200
    assert [RateSampler(0.25).sampled(i) for i in ids[:50]] == [
        RateSampler(0.25).sampled(i) for i in ids[:50]
    ]
    with pytest.raises(ValueError, match=r"between 0\.0 and 1\.0"):
        RateSampler(1.5)


def test_inject_extract_through_the_opentracing_api():
    tracer, _ = make_tracer(trace_id_128bit=True)
    span = tracer.start_span("x")
    carrier: dict[str, str] = {}
    tracer.inject(span.context, Format.TEXT_MAP, carrier)
    single: dict[str, str] = {}
    tracer.inject(span.context, tracing.B3_SINGLE, single)
    for headers in (carrier, single):
        back = tracer.extract(Format.HTTP_HEADERS, headers)
        assert (back.trace_id, back.span_id) == (span.context.trace_id, span.context.span_id)
    assert len(span.context.trace_id) == 32
    with pytest.raises(ValueError, match="b3multi or b3single"):
        Tracer("users", propagation="jaeger")


# ---------------------------------------------------------------------------------------------
# One app, served over loopback.


def make_app(database_url, **settings):
    app = create_app("traced", {"DATABASE_URL": database_url, "DB_MIN_SIZE": 1, **settings})

    @logger(description="look something up")
    async def lookup(request):
        logging.getLogger("sanic_ms").info("inside lookup")
        return 1

    @app.get("/items/<id:int>")
    async def item(request, id: int):
        await lookup(request)
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchrow("SELECT $1::int AS id", id)

    @app.get("/boom")
    async def boom(request):
        async with request.app.ctx.db.acquire(request) as conn:
            await conn.fetchval("SELEC broken_sql")  # a bug in the query: unhandled, a 500

    return app


FAST = {"TRACING_FLUSH_INTERVAL": 0.02}


async def test_server_spans_named_by_route_with_status_and_errors(database_url):
    async with Collector(validate=True) as collector:
        app = make_app(database_url, ZIPKIN_URL=collector.url, **FAST)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            for path in ("/items/7", "/boom", "/nowhere"):
                async with session.get(url + path) as response:
                    await response.read()
            await collector.wait_for_spans(3, where=lambda s: s.get("kind") == "SERVER")
        spans = collector.spans
        assert collector.invalid == []
    servers = {s["tags"]["http.path"]: s for s in spans if s.get("kind") == "SERVER"}
    assert servers["/items/7"]["name"] == "get /items/<id:int>"
    assert servers["/items/7"]["tags"]["http.status_code"] == "200"
    assert "error" not in servers["/items/7"]["tags"]
    assert servers["/boom"]["tags"]["error"] == "500"
    assert servers["/nowhere"]["name"] == "get not_found"
    assert servers["/nowhere"]["tags"]["http.status_code"] == "404"
    failed = [s for s in spans if s.get("parentId") == servers["/boom"]["id"]]
    assert failed and "SELEC" in failed[0]["tags"]["error"]  # finished despite raising
    local = [s for s in spans if s["name"] == "make_app.<locals>.lookup"]
    assert local and local[0]["parentId"] == servers["/items/7"]["id"]


async def test_tracing_disabled_records_nothing_and_says_so(database_url):
    async with Collector() as collector:
        app = make_app(database_url, ZIPKIN_URL=collector.url, TRACING_ENABLED=False, **FAST)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            async with session.get(url + "/items/1") as response:
                assert response.status == 200
                assert "x-b3-traceid" not in {h.lower() for h in response.headers}
            async with session.get(url + tracing.STATS_PATH) as response:
                stats = (await response.json())["data"]
            await asyncio.sleep(0.1)
        assert collector.spans == []
    assert stats["enabled"] is False and stats["reporter"] is None


async def test_stats_endpoint_counts_what_the_reporter_did(database_url):
    async with Collector() as collector:
        app = make_app(database_url, ZIPKIN_URL=collector.url, **FAST)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            async with session.get(url + "/items/1") as response:
                await response.read()
            await collector.wait_for_spans(3)
            async with session.get(url + tracing.STATS_PATH) as response:
                body = await response.json()
    stats = body["data"]
    assert body["code"] == 0
    assert stats["enabled"] is True and stats["service"] == "traced"
    assert stats["zipkin_url"] == collector.url and stats["sample_rate"] == 1.0
    assert stats["reporter"]["sent"] == stats["reporter"]["queued"] == 3  # server, local, select
    assert stats["reporter"]["dropped"] == 0


async def test_shutdown_flushes_spans_still_queued(database_url):
    async with Collector() as collector:
        # Nothing is posted during the run (60 s interval): only the shutdown flush can.
        app = make_app(database_url, ZIPKIN_URL=collector.url, TRACING_FLUSH_INTERVAL=60)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            async with session.get(url + "/items/1") as response:
                await response.read()
            assert collector.spans == []
        assert len(collector.spans) == 3


def library_call() -> None:
    """What a third-party library traced through OpenTracing does: the global tracer, no sanic_ms."""
    with opentracing.global_tracer().start_active_span("library.outer") as scope:
        scope.span.set_tag("component", "some-library")
        span = opentracing.tracer.start_span("library.inner")  # the active span is its parent
        span.finish()


@pytest.mark.parametrize("backend", ["basic", "otel"])
async def test_a_library_using_the_global_tracer_joins_the_request_trace(database_url, backend):
    before = opentracing.global_tracer()
    async with Collector() as collector:
        app = make_app(database_url, ZIPKIN_URL=collector.url, TRACING_BACKEND=backend, **FAST)

        @app.get("/library")
        async def uses_a_library(request):
            library_call()
            return {"registered": opentracing.is_global_tracer_registered()}

        async with serve(app) as url, aiohttp.ClientSession() as session:
            async with session.get(url + "/library") as response:
                body = await response.json()
        await collector.wait_for_spans(3)  # flushed when the server stopped
        spans = {s["name"]: s for s in collector.spans}

    assert body["data"] == {"registered": True}
    server, outer, inner = spans["get /library"], spans["library.outer"], spans["library.inner"]
    assert {outer["traceId"], inner["traceId"]} == {server["traceId"]}
    assert outer["parentId"] == server["id"] and inner["parentId"] == outer["id"]
    assert outer["localEndpoint"]["serviceName"] == "traced"
    # Stopped, the app hands the global back: library spans no longer go to its reporter.
    assert opentracing.global_tracer() is before


async def test_the_global_tracer_follows_the_apps_that_run(database_url):
    first = make_app(database_url)
    second = create_app("traced-too", {"DATABASE_URL": database_url, "DB_MIN_SIZE": 1})
    before = opentracing.global_tracer()
    async with serve(first):
        assert opentracing.global_tracer() is first.ctx.tracer
        async with serve(second):
            assert opentracing.global_tracer() is second.ctx.tracer
        assert opentracing.global_tracer() is first.ctx.tracer
    assert opentracing.global_tracer() is before


async def test_log_lines_in_a_request_carry_trace_and_span_ids(database_url, caplog):
    async with Collector() as collector:
        app = make_app(database_url, ZIPKIN_URL=collector.url, **FAST)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            with caplog.at_level(logging.INFO, logger="sanic_ms"):
                async with session.get(url + "/items/1") as response:
                    await response.read()
            spans = await collector.wait_for_spans(3)
    inside = [r for r in caplog.records if r.getMessage() == "inside lookup"]
    local = next(s for s in spans if s["name"].endswith("lookup"))
    assert (inside[0].trace_id, inside[0].span_id) == (local["traceId"], local["id"])


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="basic or otel"):
        tracing.build_tracer("users", {"TRACING_BACKEND": "jaeger"})
