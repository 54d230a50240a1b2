"""What tracing costs per request, measured in one run: ``python bench/tracing_overhead.py``.

The same app, one worker in its own process, serves ``GET /items/1``: one row read by primary key
through the pool, so a traced request makes a SERVER span and a db CLIENT span. It runs in turn as

* ``off``: ``TRACING_ENABLED=false`` (no middleware, no spans);
* ``on``: 100% sampling, the reporter posting to the collector in count-only mode
  (``python -m sanic_ms.tracing.collector --max-traces 0``, its own process, so the app pays for
  converting and posting but not for receiving);
* ``down``: 100% sampling, nothing listening at ``ZIPKIN_URL``.

Load comes from wrk (1 thread, ``--connections``, ``--seconds``) when installed, else from an
aiohttp load loop in a separate process. Rounds run off, on, down in turn; each mode's best round
counts (noise on a shared machine only ever slows a run down). Reported:

* req/s on / off (goal >= 0.85) and the cost of tracing per request, ``1e6/on - 1e6/off`` µs;
* p99 latency down / on (goal <= 1.1): a dead collector must not slow requests;
* the reporter's counters after each traced run (sent, dropped);
* CPU time the server process spent per request (from its own counters, so it holds up better
  than req/s when other work shares the machine), and its on - off difference;
* in-process, without HTTP: the microseconds tracing adds to one such request (SERVER span
  middleware, db span, queueing) and what the reporter later spends on its two spans (Zipkin JSON),
  the best of several repeats: the figure least disturbed by a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import psutil

import sanic_ms
from bench.processes import HOST, free_port, python, running

MODES = ("off", "on", "down")
PATH = "/items/1"
RPS_GOAL, P99_GOAL = 0.85, 1.1


def create_app():
    """The measured app; tracing settings come from the environment (see ``run_server``)."""
    app = sanic_ms.create_app("tracing-bench", {"LOG_LEVEL": "WARNING", "DB_MAX_SIZE": 4})

    @app.get("/items/<id:int>")
    async def item(request, id: int):
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchrow("SELECT id, name FROM items WHERE id = $1", id)

    return app


@dataclass
class Measure:
    mode: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float = 0.0  # server process CPU time per request (user + system)
    sent: int | None = None
    dropped: int | None = None


# ---------------------------------------------------------------------------------------------
# Load generators.

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percent = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|timeout)\D+(\d+)", out))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(percent["50"]),
        "p99_ms": _ms(percent["99"]),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": errors,
    }


async def _load_loop(url: str, connections: int, seconds: float) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while (start := time.perf_counter()) < deadline:
            async with session.get(url) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "requests": len(latencies),
        "errors": errors,
    }


def load(url: str, connections: int, seconds: float) -> dict[str, float]:
    """Drive ``url``; wrk if installed, else the aiohttp loop in its own process."""
    if shutil.which("wrk"):
        return wrk(url, connections, seconds)
    out = subprocess.run(
        python(__file__, "load", url, str(connections), str(seconds)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# The run.


async def prepare_database() -> str:
    import asyncpg

    from grader.postgres import create_database

    dsn = await create_database("bench_tracing")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)")
        await conn.execute("INSERT INTO items VALUES (1, 'one row, read by primary key')")
    finally:
        await conn.close()
    return dsn


def stats(base: str) -> dict:
    with urllib.request.urlopen(base + "/_tracing/stats", timeout=10) as response:
        return json.load(response)["data"]


def measure(args, dsn: str, sink_url: str, logs: Path) -> list[Measure]:
    results: list[Measure] = []
    dead = f"http://{HOST}:{free_port()}"
    for round_ in range(1, args.rounds + 1):
        for mode in MODES:
            port = free_port()
            env = {
                "DATABASE_URL": dsn,
                "TRACING_ENABLED": "false" if mode == "off" else "true",
                "TRACING_SAMPLE_RATE": "1.0",
                "ZIPKIN_URL": {"off": "", "on": sink_url, "down": dead}[mode],
            }
            base = f"http://{HOST}:{port}"
            server = python(
                "bench/serve.py", f"{__file__}:create_app", "--host", HOST, "--port", str(port)
            )
            with running(server, logs / f"{mode}-{round_}.log", env, base + PATH, True) as proc:
                load(base + PATH, args.connections, min(2.0, args.seconds))  # warm up
                cpu = psutil.Process(proc.pid)
                before = sum(cpu.cpu_times()[:2])
                numbers = load(base + PATH, args.connections, args.seconds)
                used = sum(cpu.cpu_times()[:2]) - before
                counters = stats(base)["reporter"] or {}
            numbers["cpu_us"] = used * 1e6 / max(1, numbers["requests"])
            measure_ = Measure(
                mode, round_, **numbers, sent=counters.get("sent"), dropped=counters.get("dropped")
            )
            results.append(measure_)
            print(
                f"round {round_} {mode:>4}: {measure_.rps:8.0f} req/s  p50 {measure_.p50_ms:.2f} ms"
                f"  p99 {measure_.p99_ms:.2f} ms  cpu {measure_.cpu_us:.0f} µs/req"
                f"  errors {measure_.errors}"
                + (f"  spans sent {measure_.sent} dropped {measure_.dropped}" if counters else ""),
                flush=True,
            )
    return results


def _run_coroutine(coroutine) -> None:
    # The middleware never awaits anything real: drive it without an event loop in the way.
    try:
        coroutine.send(None)
    except StopIteration:
        pass


def micro(repeats: int = 7, count: int = 20_000) -> dict[str, float]:
    """µs per request of the tracing code itself, and of the reporter's work on its spans.

    CPU time of this process (not wall time), best of ``repeats``: what the code costs, not how
    busy the machine was.
    """
    from types import SimpleNamespace

    from sanic.compat import Header

    from sanic_ms import tracing
    from sanic_ms.tracing.reporter import ZipkinReporter

    reporter = ZipkinReporter("http://127.0.0.1:9", "tracing-bench", queue_size=count * 2 + 10)
    tracer = tracing.Tracer("tracing-bench", reporter)
    headers = Header({"host": "127.0.0.1:8000", "user-agent": "wrk", "accept": "*/*"})
    app = SimpleNamespace(ctx=SimpleNamespace(tracer=tracer))
    route = SimpleNamespace(path="items/<id:int>")
    response = SimpleNamespace(status=200)
    sql = "SELECT id, name FROM items WHERE id = $1"

    def one_request() -> None:
        request = SimpleNamespace(
            app=app, headers=headers, route=route, method="GET", path=PATH, ctx=SimpleNamespace()
        )
        _run_coroutine(tracing.start_server_span(request))
        with tracing.query_span(sql, (1,)):
            pass
        _run_coroutine(tracing.finish_server_span(request, response))

    batch = reporter.batch_size
    best_path = best_report = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        for i in range(count):
            one_request()
            if i % batch == 0:  # as the reporter would: the queue never holds many spans
                reporter._take_all()
        best_path = min(best_path, (time.process_time() - began) / count * 1e6)
        reporter._take_all()
        for _ in range(count):
            one_request()
        spans = [reporter.queue.get_nowait() for _ in range(reporter.queue.qsize())]
        began = time.process_time()
        for i in range(0, len(spans), reporter.batch_size):
            orjson.dumps(reporter._convert(spans[i : i + reporter.batch_size]))
        best_report = min(best_report, (time.process_time() - began) / count * 1e6)
    # How fast Python runs right now (an empty call: ~40-50 ns on an idle modern core), so the
    # figures above can be read against a busy or throttled machine.
    import timeit

    call_ns = min(timeit.repeat("f()", "def f(): pass", number=200_000, repeat=5)) / 200_000 * 1e9
    return {"request_path_us": best_path, "reporter_us": best_report, "empty_call_ns": call_ns}


def summarise(results: list[Measure]) -> dict[str, float]:
    best = {m: max((r for r in results if r.mode == m), key=lambda r: r.rps) for m in MODES}
    p99 = {m: min(r.p99_ms for r in results if r.mode == m) for m in MODES}
    cpu = {m: min(r.cpu_us for r in results if r.mode == m) for m in MODES}
    return {
        "rps_off": best["off"].rps,
        "rps_on": best["on"].rps,
        "rps_ratio": best["on"].rps / best["off"].rps,
        "tracing_us_per_request": 1e6 / best["on"].rps - 1e6 / best["off"].rps,
        "p99_on_ms": p99["on"],
        "p99_down_ms": p99["down"],
        "p99_ratio": p99["down"] / p99["on"],
        "cpu_us_off": cpu["off"],
        "cpu_us_on": cpu["on"],
        "tracing_cpu_us_per_request": cpu["on"] - cpu["off"],
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from grader.postgres import drop_database

    generator = "wrk" if shutil.which("wrk") else "aiohttp load loop"
    print(
        f"GET {PATH}: {generator}, {args.connections} connections, {args.seconds:g} s per run, "
        f"{args.rounds} rounds, {os.cpu_count()} CPUs",
        flush=True,
    )
    dsn = asyncio.run(prepare_database())
    logs = Path(tempfile.mkdtemp(prefix="tracing-bench-"))
    sink_port = free_port()
    sink_url = f"http://{HOST}:{sink_port}"
    try:
        sink = python("-m", "sanic_ms.tracing.collector", "--host", HOST, "--port", str(sink_port))
        sink += ["--max-traces", "0"]  # count-only: keeps nothing, parses nothing
        with running(sink, logs / "sink.log", ready_url=sink_url + "/stats"):
            results = measure(args, dsn, sink_url, logs)
    finally:
        asyncio.run(drop_database(dsn))
    summary = summarise(results) | micro()
    print(
        f"\nreq/s tracing on / off: {summary['rps_on']:.0f} / {summary['rps_off']:.0f}"
        f" = {summary['rps_ratio']:.3f} (goal >= {RPS_GOAL})"
        f"\ntracing cost: {summary['tracing_us_per_request']:.1f} µs per request (from the rates);"
        f" server CPU {summary['cpu_us_on']:.0f} vs {summary['cpu_us_off']:.0f} µs per request"
        f" = {summary['tracing_cpu_us_per_request']:.1f} µs"
        f"\np99 collector down / up: {summary['p99_down_ms']:.2f} / {summary['p99_on_ms']:.2f} ms"
        f" = {summary['p99_ratio']:.3f} (goal <= {P99_GOAL})"
        f"\nin process: {summary['request_path_us']:.1f} µs per request on the request path"
        f" + {summary['reporter_us']:.1f} µs in the reporter (JSON for its 2 spans)"
        f" = {summary['request_path_us'] + summary['reporter_us']:.1f} µs"
        f" (this machine now: {summary['empty_call_ns']:.0f} ns per empty Python call)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"summary": summary, "runs": [asdict(r) for r in results]}, indent=2)
        )
    shutil.rmtree(logs, ignore_errors=True)
    return summary


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        _, _, url, connections, seconds = sys.argv
        print(json.dumps(asyncio.run(_load_loop(url, int(connections), float(seconds)))))
    else:
        main()
