"""The in-process Zipkin collector: what it accepts, refuses, serves back and prints."""

from __future__ import annotations

import aiohttp

from sanic_ms.collector import Collector, render_tree

T = "463ac35c9f6413ad"


def span(id, name, parent=None, kind=None, service="users", start=0, duration=1000, **extra):
    out = {
        "traceId": T,
        "id": id * 16,
        "name": name,
        "timestamp": 1_700_000_000_000_000 + start,
        "duration": duration,
        "localEndpoint": {"serviceName": service},
        **extra,
    }
    if parent:
        out["parentId"] = parent * 16
    if kind:
        out["kind"] = kind
    return out


TREE = [
    span(
        "a", "get /users/<id:int>", kind="SERVER", duration=9000, tags={"http.status_code": "200"}
    ),
    span("b", "select", "a", "CLIENT", start=100, remoteEndpoint={"serviceName": "postgresql"}),
    span(
        "c",
        "get",
        "a",
        "CLIENT",
        start=2000,
        duration=5000,
        remoteEndpoint={"serviceName": "cities"},
    ),
    span("d", "get /cities/<id:int>", "c", "SERVER", "cities", start=2500, duration=4000),
]


def test_render_tree_nests_children_under_parents_with_durations():
    text = render_tree(list(reversed(TREE)))
    lines = text.splitlines()
    assert lines[0] == f"trace {T}"
    assert lines[1].startswith("└─ users SERVER get /users/<id:int> [200]  9.00 ms")
    assert lines[2].startswith("   ├─ users CLIENT select -> postgresql")
    assert lines[3].startswith("   └─ users CLIENT get -> cities  5.00 ms (+2.00 ms)")
    assert lines[4].startswith("      └─ cities SERVER get /cities/<id:int>  4.00 ms (+2.50 ms)")


async def test_accepts_valid_batches_and_serves_them_back():
    async with Collector(validate=True) as collector, aiohttp.ClientSession() as session:
        async with session.post(f"{collector.url}/api/v2/spans", json=TREE[:2]) as response:
            assert response.status == 202
        async with session.post(f"{collector.url}/api/v2/spans", json=TREE[2:]) as response:
            assert response.status == 202
        async with session.get(f"{collector.url}/api/v2/trace/{T}") as response:
            trace = await response.json()
        async with session.get(f"{collector.url}/api/v2/spans?serviceName=cities") as response:
            cities = await response.json()
        async with session.get(f"{collector.url}/api/v2/trace/{'f' * 16}") as response:
            assert response.status == 404
    assert [s["id"][0] for s in trace] == ["a", "b", "c", "d"]
    assert [s["id"][0] for s in cities] == ["d"]
    assert len(collector.batches) == 2


async def test_refuses_what_zipkin_would_refuse_and_keeps_nothing():
    async with Collector(validate=True) as collector, aiohttp.ClientSession() as session:
        bad = [dict(TREE[0], tags={"http.status_code": 200})]
        async with session.post(f"{collector.url}/api/v2/spans", json=bad) as response:
            assert response.status == 400
            assert "http.status_code" in " ".join((await response.json())["details"])
        async with session.post(f"{collector.url}/api/v2/spans", data=b"{not json") as response:
            assert response.status == 400
    assert collector.spans == [] and len(collector.invalid) == 1


async def test_error_mode_answers_500_and_keeps_nothing():
    async with Collector(mode="error") as collector, aiohttp.ClientSession() as session:
        async with session.post(f"{collector.url}/api/v2/spans", json=TREE) as response:
            assert response.status == 500
    assert collector.spans == [] and collector.posts == 1
