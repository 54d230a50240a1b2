"""One request across users -> cities + roles -> PostgreSQL, traced over real loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import asyncpg
import pytest

from examples.cities.server import create_app as create_cities
from examples.roles.server import create_app as create_roles
from examples.users.server import create_app as create_users
from sanic_ms.serve import free_port, serve
from sanic_ms.tracing.collector import Collector

LOCAL_SPANS = {"cities": "get_city_by_id", "roles": "get_role_by_id"}  # @logger functions
FAST = {"TRACING_FLUSH_INTERVAL": 0.02, "TRACING_POST_TIMEOUT": 0.3, "DB_MIN_SIZE": 1}


@pytest.fixture(scope="module")
def user_id(example_tables):
    """One user (with a city and a role) in the session database."""

    async def insert():
        conn = await asyncpg.connect(example_tables)
        try:
            city = await conn.fetchval("INSERT INTO cities (name) VALUES ('Lisbon') RETURNING id")
            role = await conn.fetchval("INSERT INTO roles (name) VALUES ('admin') RETURNING id")
            return await conn.fetchval(
                "INSERT INTO users (name, age, sex, city_id, role_id) "
                "VALUES ('Ada', 36, 'f', $1, $2) RETURNING id",
                city,
                role,
            )
        finally:
            await conn.close()

    return asyncio.run(insert())


@contextlib.asynccontextmanager
async def services(database_url, zipkin_url, users=None, downstream=None):
    """The three example services on loopback ports, reporting to ``zipkin_url``."""
    base = {"DATABASE_URL": database_url, "ZIPKIN_URL": zipkin_url, **FAST}
    cities_port, roles_port = free_port(), free_port()
    cities = create_cities({**base, **(downstream or {})})
    roles = create_roles({**base, **(downstream or {})})
    front = create_users(
        {
            **base,
            "SERVICES": {
                "cities": f"http://127.0.0.1:{cities_port}",
                "roles": f"http://127.0.0.1:{roles_port}",
            },
            **(users or {}),
        }
    )
    async with (
        serve(cities, port=cities_port),
        serve(roles, port=roles_port),
        serve(front) as url,
        aiohttp.ClientSession() as session,
    ):

        async def get(path, headers=None):
            async with session.get(url + path, headers=headers) as response:
                return response.status, json.loads(await response.read())

        yield get


def by_name(spans, service, name):
    found = [
        s for s in spans if s["localEndpoint"]["serviceName"] == service and s.get("name") == name
    ]
    assert len(found) == 1, (service, name, spans)
    return found[0]


def ancestors(span, spans):
    index = {s["id"]: s for s in spans}
    chain = []
    while span.get("parentId") in index:
        span = index[span["parentId"]]
        chain.append(span)
    return chain


async def test_one_trace_across_three_services_and_the_database(example_tables, user_id):
    async with Collector(validate=True) as collector:
        async with services(example_tables, collector.url) as get:
            status, body = await get(f"/users/{user_id}")
            assert status == 200 and body["data"]["city"]["name"] == "Lisbon"
            # users: server, select, 2 local, 2 client; cities and roles: server + select each.
            spans = await collector.wait_for_spans(10)
        assert collector.invalid == []

    assert len({s["traceId"] for s in spans}) == 1
    root = by_name(spans, "users", "get /users/<id:int>")
    assert root["kind"] == "SERVER" and "parentId" not in root
    assert root["tags"]["http.status_code"] == "200"
    assert root["tags"]["http.path"] == f"/users/{user_id}"

    user_query = by_name(spans, "users", "select")
    assert user_query["parentId"] == root["id"] and user_query["kind"] == "CLIENT"
    assert user_query["remoteEndpoint"]["serviceName"] == "postgresql"
    assert user_query["tags"]["sql.query"].startswith("SELECT id, name")
    assert "sql.params" not in user_query["tags"]  # bind values stay out by default

    calls = [
        s
        for s in spans
        if s["localEndpoint"]["serviceName"] == "users"
        and s.get("remoteEndpoint", {}).get("serviceName") in LOCAL_SPANS
    ]
    assert {c["remoteEndpoint"]["serviceName"] for c in calls} == {"cities", "roles"}
    for call in calls:
        service = call["remoteEndpoint"]["serviceName"]
        # Each call sits under its @logger local span, both under the request's server span.
        local = by_name(spans, "users", LOCAL_SPANS[service])
        assert call["parentId"] == local["id"] and local["parentId"] == root["id"]
        assert "kind" not in local
        assert call["tags"]["http.status_code"] == "200"
        # The downstream SERVER span is the call's child, and its query the server's child.
        server = by_name(spans, service, f"get /{service}/<id:int>")
        assert server["parentId"] == call["id"] and server["kind"] == "SERVER"
        query = by_name(spans, service, "select")
        assert query["parentId"] == server["id"]
        assert query["remoteEndpoint"]["serviceName"] == "postgresql"
        assert root in ancestors(query, spans)
        # The call lasted from send to response: it covers the downstream server's span.
        assert call["timestamp"] <= server["timestamp"]
        assert call["timestamp"] + call["duration"] >= server["timestamp"] + server["duration"]

    first, second = sorted(calls, key=lambda c: c["timestamp"])
    assert second["timestamp"] < first["timestamp"] + first["duration"], "calls ran one by one"


async def test_log_lines_in_a_request_carry_its_ids(example_tables, user_id, caplog):
    async with Collector() as collector:
        async with services(example_tables, collector.url) as get:
            with caplog.at_level("INFO", logger="sanic_ms"):
                await get(f"/users/{user_id}")
            spans = await collector.wait_for_spans(10)
    lines = [r for r in caplog.records if r.name == "sanic_ms" and "city" in r.getMessage()]
    assert lines, [r.getMessage() for r in caplog.records]
    local = by_name(spans, "users", "get_city_by_id")
    assert (lines[0].trace_id, lines[0].span_id) == (local["traceId"], local["id"])


@pytest.mark.parametrize(
    ("rate", "headers", "recorded"),
    [
        (1.0, {}, True),
        (0.0, {}, False),
        (1.0, {"X-B3-Sampled": "0"}, False),  # the caller said no: honoured
        (0.0, {"X-B3-Sampled": "1"}, True),  # the caller said yes: honoured
        (0.0, {"X-B3-TraceId": "a" * 32, "X-B3-SpanId": "b" * 16, "X-B3-Flags": "1"}, True),
        (1.0, {"b3": "0"}, False),
    ],
)
async def test_sampling_decision_follows_the_trace(
    example_tables, user_id, rate, headers, recorded
):
    # Only users samples at `rate`; cities and roles always would, unless told otherwise.
    async with Collector() as collector:
        async with services(
            example_tables, collector.url, users={"TRACING_SAMPLE_RATE": rate}
        ) as get:
            status, _ = await get(f"/users/{user_id}", headers=headers)
            assert status == 200
            if recorded:
                spans = await collector.wait_for_spans(10)
                assert {s["localEndpoint"]["serviceName"] for s in spans} == {
                    "users",
                    "cities",
                    "roles",
                }
                if "X-B3-TraceId" in headers:
                    assert {s["traceId"] for s in spans} == {"a" * 32}
                    assert all(s.get("debug") for s in spans)
            else:
                # A request that is recorded afterwards proves nothing else was in the pipe.
                status, _ = await get("/users/0", headers={"X-B3-Sampled": "1"})
                await collector.wait_for_spans(2)
                await asyncio.sleep(0.1)  # five flush intervals: stragglers would be in by now
                spans = collector.spans
                assert all(s.get("tags", {}).get("http.path") != f"/users/{user_id}" for s in spans)
                assert all(s["localEndpoint"]["serviceName"] == "users" for s in spans)


@pytest.mark.parametrize("mode", ["down", "error", "stall"])
async def test_requests_succeed_whatever_the_collector_does(example_tables, user_id, mode):
    async with Collector(mode="ok" if mode == "down" else mode) as collector:
        url = f"http://127.0.0.1:{free_port()}" if mode == "down" else collector.url
        async with services(example_tables, url) as get:
            for _ in range(3):
                status, body = await get(f"/users/{user_id}")
                assert status == 200 and body["data"]["role"]["name"] == "admin"
            status, _ = await get("/users/0")
            assert status == 404
            for _ in range(200):  # the stats endpoint shows the loss once a post has failed
                _, body = await get("/_tracing/stats")
                counters = body["data"]["reporter"]
                if counters["failed_posts"] >= 1:
                    break
                await asyncio.sleep(0.05)
            # A stalled post went out and got no answer: unknown; the others were lost.
            lost = counters["unknown"] if mode == "stall" else counters["dropped"]
            assert counters["failed_posts"] >= 1 and lost >= 1
            assert counters["sent"] == 0


async def test_malformed_trace_headers_never_fail_a_request(example_tables, user_id):
    async with Collector() as collector:
        async with services(example_tables, collector.url) as get:
            status, _ = await get(
                f"/users/{user_id}", headers={"X-B3-TraceId": "not-hex", "X-B3-SpanId": "!"}
            )
            assert status == 200
            spans = await collector.wait_for_spans(10)
    root = by_name(spans, "users", "get /users/<id:int>")
    assert "parentId" not in root and root["traceId"] != "not-hex"


async def test_otel_backend_gives_the_same_tree(example_tables, user_id):
    # TRACING_BACKEND=otel: same call sites, OpenTelemetry SDK behind the OpenTracing shim.
    otel = {"TRACING_BACKEND": "otel"}
    async with Collector(validate=True) as collector:
        async with services(example_tables, collector.url, users=otel, downstream=otel) as get:
            status, body = await get(f"/users/{user_id}")
            assert status == 200 and body["data"]["city"]["name"] == "Lisbon"
            _, stats = await get("/_tracing/stats")
            assert stats["data"]["backend"] == "otel"
            spans = await collector.wait_for_spans(10)
        assert collector.invalid == []

    assert len({s["traceId"] for s in spans}) == 1 and len(spans[0]["traceId"]) == 32
    root = by_name(spans, "users", "get /users/<id:int>")
    assert root["kind"] == "SERVER" and "parentId" not in root
    for service, local_name in LOCAL_SPANS.items():
        local = by_name(spans, "users", local_name)
        assert local["parentId"] == root["id"]
        (call,) = [s for s in spans if s.get("remoteEndpoint", {}).get("serviceName") == service]
        assert call["kind"] == "CLIENT" and call["parentId"] == local["id"]
        assert "kind" not in local and "debug" not in call
        server = by_name(spans, service, f"get /{service}/<id:int>")
        assert server["kind"] == "SERVER" and server["parentId"] == call["id"]
        query = by_name(spans, service, "select")
        assert query["kind"] == "CLIENT" and query["parentId"] == server["id"]
        assert query["remoteEndpoint"]["serviceName"] == "postgresql"
