"""The in-process Zipkin collector: what it accepts, refuses, serves back and prints."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import sys
import urllib.request

import aiohttp

from sanic_ms.serve import free_port
from sanic_ms.tracing.collector import RECENT_BATCHES, Collector, TreePrinter, render_tree

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


def trace_of(n: int, spans: int = 3) -> list[dict]:
    """Trace ``n``: ``spans - 1`` children, then the root (as services report them)."""
    trace_id = f"{n:016x}"
    root = {**span("r", "get /users", kind="SERVER"), "traceId": trace_id, "id": f"{n:015x}f"}
    kids = [
        {**span(chr(ord("a") + i), "select", "r", "CLIENT"), "traceId": trace_id,
         "id": f"{n:014x}{i:02x}", "parentId": root["id"]}
        for i in range(spans - 1)
    ]  # fmt: skip
    return [*kids, root]


async def post(session, url: str, batch: list[dict]) -> int:
    async with session.post(f"{url}/api/v2/spans", json=batch) as response:
        return response.status


async def test_keeps_only_the_most_recent_traces():
    async with Collector(max_traces=3) as collector, aiohttp.ClientSession() as session:
        for n in range(1, 6):
            assert await post(session, collector.url, trace_of(n)) == 202
        async with session.get(f"{collector.url}/api/v2/trace/{1:016x}") as response:
            assert response.status == 404  # forgotten to make room
        async with session.get(f"{collector.url}/stats") as response:
            stats = await response.json()
    assert {s["traceId"] for s in collector.spans} == {f"{n:016x}" for n in (3, 4, 5)}
    assert len(collector.spans) == 9
    assert stats | {"posts": 0} == {
        "spans": 15,
        "batches": 5,
        "posts": 0,
        "traces": 3,
        "max_traces": 3,
        "evicted_traces": 2,
        "discarded_spans": 0,
    }


async def test_recent_batches_are_bounded_and_counted():
    async with Collector() as collector, aiohttp.ClientSession() as session:
        for n in range(RECENT_BATCHES + 4):
            await post(session, collector.url, trace_of(n, spans=1))
    assert len(collector.batches) == RECENT_BATCHES
    assert collector.batch_count == RECENT_BATCHES + 4
    assert collector.batches[-1][0]["traceId"] == f"{RECENT_BATCHES + 3:016x}"


async def test_count_only_mode_keeps_nothing_but_counts_spans():
    async with Collector(max_traces=0) as collector, aiohttp.ClientSession() as session:
        assert await post(session, collector.url, trace_of(1, spans=4)) == 202
        async with session.get(f"{collector.url}/stats") as response:
            stats = await response.json()
    assert (stats["spans"], stats["batches"], stats["traces"]) == (4, 1, 0)
    assert collector.spans == [] and len(collector.batches) == 0


async def test_printer_prints_each_trace_once_off_the_request_path():
    out = io.StringIO()
    async with Collector() as collector, aiohttp.ClientSession() as session:
        printer = TreePrinter(collector, out=out, settle=0.2)
        printer.start()
        try:
            batch = trace_of(7)
            await post(session, collector.url, batch[-1:])  # the root first, children late
            assert out.getvalue() == ""  # the POST answered; nothing was printed on its path
            await post(session, collector.url, batch[:-1])
            async with asyncio.timeout(5):
                while not printer.printed:  # noqa: ASYNC110 (the printer has no event to await)
                    await asyncio.sleep(0.05)
        finally:
            await printer.stop()
    lines = out.getvalue().splitlines()
    assert lines[0] == f"trace {7:016x}"
    assert len(lines) == 4  # the root and both children, who came after it
    assert lines[1].startswith("└─ users SERVER get /users")


async def test_printer_skips_what_it_cannot_keep_up_with():
    out = io.StringIO()
    async with Collector() as collector:
        printer = TreePrinter(collector, out=out, settle=60, backlog=2)
        for n in range(5):
            printer.on_batch(trace_of(n, spans=1))
    assert (len(printer.pending), printer.skipped) == (2, 3)


def test_cli_prints_trees_and_refuses_a_negative_bound():
    port = free_port()
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sanic_ms.tracing.collector",
            "--port",
            str(port),
            "--max-traces",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert "listening" in process.stdout.readline()
            body = json.dumps(trace_of(9)).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/spans",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 202
            assert process.stdout.readline().strip() == f"trace {9:016x}"
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(10)
    assert process.returncode == 0
    refused = subprocess.run(
        [sys.executable, "-m", "sanic_ms.tracing.collector", "--max-traces", "-1"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "--max-traces must be >= 0" in refused.stderr
