"""Soak the Zipkin collector: post spans at a steady rate, watch its memory and its answers.

``python -m bench.collector_soak --seconds 600 --rate 10000`` starts ``python -m sanic_ms.tracing.collector``
(trees printed to /dev/null, so printing costs what it costs) and posts synthetic traces to it as
services' reporters would: batches of ``--batch`` spans, each trace's root after its children,
posts overlapping when the collector is slow, each given the reporter's 2 s to answer. Every
``--every`` seconds it samples the collector's RSS and the posts' latency. Writes
``reports/collector_soak/`` (``samples.csv``, ``results.md``) and prints the same table.

A post that does not answer within the timeout is a batch the reporter would count as lost or
unknown: the number to keep at zero. ``--collector "python other_collector.py"`` measures another
one (it must accept ``--port``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import secrets
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import aiohttp
import orjson

from bench.processes import HOST, REPO_ROOT, cpu_seconds, free_port, python, rss_mb, running

SPANS_PER_TRACE = 5  # a request: its server span, two SQL statements, two downstream calls
POST_TIMEOUT = 2.0  # ZipkinReporter's default post_timeout
MAX_IN_FLIGHT = 64  # beyond this the generator waits: the collector is past keeping up


@dataclass
class Sample:
    """One interval of the run, as a row of ``samples.csv``."""

    second: float
    rss_mb: float
    cpu_pct: float  # the collector's CPU time over the interval: low with timeouts = a busy machine
    spans_per_s: float
    posts: int
    timeouts: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def trace_spans(now_us: int) -> list[dict]:
    """One trace of ``SPANS_PER_TRACE`` Zipkin v2 spans, children first (as they finish)."""
    trace_id, root_id = secrets.token_hex(8), secrets.token_hex(8)
    local = {"serviceName": "users"}
    children = [
        {
            "traceId": trace_id,
            "id": secrets.token_hex(8),
            "parentId": root_id,
            "name": name,
            "kind": "CLIENT",
            "timestamp": now_us + 100 * i,
            "duration": 800,
            "localEndpoint": local,
            "remoteEndpoint": {"serviceName": remote},
            "tags": tags,
        }
        for i, (name, remote, tags) in enumerate(
            [
                ("select", "postgresql", {"sql.query": "SELECT id, name FROM users WHERE id = $1"}),
                ("select", "postgresql", {"sql.query": "SELECT count(*) FROM users"}),
                ("get", "cities", {"http.path": "/cities/1", "http.status_code": "200"}),
                ("get", "roles", {"http.path": "/roles/1", "http.status_code": "200"}),
            ]
        )
    ]
    root = {
        "traceId": trace_id,
        "id": root_id,
        "name": "get /users/<id:int>",
        "kind": "SERVER",
        "timestamp": now_us,
        "duration": 4000,
        "localEndpoint": local,
        "tags": {"http.method": "GET", "http.path": "/users/1", "http.status_code": "200"},
    }
    return [*children, root][: SPANS_PER_TRACE or None]


def batch_body(size: int) -> bytes:
    now_us = int(time.time() * 1_000_000)
    spans: list[dict] = []
    while len(spans) < size:
        spans += trace_spans(now_us)
    return orjson.dumps(spans[:size])


class Load:
    """Posts batches at a fixed rate; collects each interval's latencies and failures."""

    def __init__(self, url: str, rate: float, batch: int):
        self.endpoint = f"{url}/api/v2/spans"
        self.interval = batch / rate
        self.batch = batch
        self.latencies: list[float] = []
        self.timeouts = self.errors = self.spans = 0
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    def take(self) -> tuple[list[float], int, int, int]:
        taken = self.latencies, self.timeouts, self.errors, self.spans
        self.latencies, self.timeouts, self.errors, self.spans = [], 0, 0, 0
        return taken

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> None:
        began = time.perf_counter()
        try:
            async with session.post(self.endpoint, data=body) as response:
                await response.read()
                ok = response.status == 202
        except TimeoutError:
            self.timeouts += 1
            return
        except aiohttp.ClientError:
            ok = False
        finally:
            self._slots.release()
        if ok:
            self.latencies.append(1000 * (time.perf_counter() - began))
            self.spans += self.batch
        else:
            self.errors += 1

    async def run(self, seconds: float) -> None:
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        headers = {"Content-Type": "application/json"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            tasks: set[asyncio.Task] = set()
            loop = asyncio.get_running_loop()
            start = next_at = loop.time()
            while (now := loop.time()) < start + seconds:
                if now < next_at:
                    await asyncio.sleep(next_at - now)
                next_at += self.interval
                await self._slots.acquire()
                task = asyncio.create_task(self._post(session, batch_body(self.batch)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def soak(url: str, pid: int, args: argparse.Namespace) -> list[Sample]:
    load = Load(url, args.rate, args.batch)
    runner = asyncio.create_task(load.run(args.seconds))
    samples: list[Sample] = []
    began = time.monotonic()
    last, cpu_last = began, cpu_seconds(pid)
    while not runner.done():
        await asyncio.wait({runner}, timeout=args.every)
        now = time.monotonic()
        latencies, timeouts, errors, spans = load.take()
        cpu = cpu_seconds(pid)
        samples.append(
            Sample(
                second=round(now - began, 1),
                rss_mb=round(rss_mb(pid), 1),
                cpu_pct=round(100 * (cpu - cpu_last) / (now - last)),
                spans_per_s=round(spans / (now - last)),
                posts=len(latencies) + timeouts + errors,
                timeouts=timeouts,
                errors=errors,
                p50_ms=round(percentile(latencies, 0.50), 1),
                p99_ms=round(percentile(latencies, 0.99), 1),
                max_ms=round(max(latencies, default=float("nan")), 1),
            )
        )
        print(table_row(samples[-1]), flush=True)
        last, cpu_last = now, cpu
    await runner
    return samples


HEADER = "| s | RSS MB | CPU % | spans/s accepted | posts | timeouts | errors | p50 ms | p99 ms | max ms |"


def table_row(s: Sample) -> str:
    return (
        f"| {s.second:g} | {s.rss_mb:.1f} | {s.cpu_pct} | {s.spans_per_s} | {s.posts} | {s.timeouts} "
        f"| {s.errors} | {s.p50_ms} | {s.p99_ms} | {s.max_ms} |"
    )


def verdict(samples: list[Sample]) -> str:
    """RSS growth after warm-up (first quarter of the run), and the posts that timed out."""
    if not samples:
        return "no samples"
    warm = samples[len(samples) // 4 :] or samples
    low, high = min(s.rss_mb for s in warm), max(s.rss_mb for s in warm)
    lost = sum(s.timeouts + s.errors for s in samples)
    posts = sum(s.posts for s in samples)
    return (
        f"RSS after warm-up {low:.1f}-{high:.1f} MB (peak {max(s.rss_mb for s in samples):.1f}); "
        f"{lost} of {posts} posts timed out or failed"
    )


def write(samples: list[Sample], out: Path, command: str, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "samples.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[x.name for x in fields(Sample)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)
    lines = [
        "# Collector soak",
        "",
        f"{args.rate:g} spans/s in batches of {args.batch} for {args.seconds:g} s; "
        f"collector: `{args.collector or 'python -m sanic_ms.tracing.collector'}` "
        f"(max traces {args.max_traces}).",
        "",
        HEADER,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *map(table_row, samples),
        "",
        verdict(samples),
        "",
        f"Command: `{command}`",
    ]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--rate", type=float, default=10_000, help="spans/s (default 10000)")
    parser.add_argument("--batch", type=int, default=500, help="spans per post (default 500)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds per sample (default 5)")
    parser.add_argument("--max-traces", type=int, default=None, help="the collector's setting")
    parser.add_argument("--collector", help="another collector command to measure")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "collector_soak")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0 or args.batch < 1 or args.every <= 0:
        parser.error("--seconds, --rate, --every must be > 0 and --batch >= 1")
    return args


def main(argv: list[str] | None = None) -> list[Sample]:
    args = parse_args(argv)
    port = free_port()
    url = f"http://{HOST}:{port}"
    if args.collector:
        command = [*shlex.split(args.collector), "--port", str(port)]
    else:
        command = python("-m", "sanic_ms.tracing.collector", "--port", str(port))
        if args.max_traces is not None:
            command += ["--max-traces", str(args.max_traces)]
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    print(HEADER, flush=True)
    with running(
        command,
        args.out / "collector.log",
        ready_url=f"{url}/api/v2/trace/0",
        discard_stdout=True,  # the trees: printed (that work counts), not kept
    ) as process:
        samples = asyncio.run(soak(url, process.pid, args))
    write(samples, args.out, f"python -m bench.collector_soak {argv_text}".strip(), args)
    print(verdict(samples))
    out = args.out
    print(f"results: {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    return samples


if __name__ == "__main__":
    os.chdir(REPO_ROOT)
    main()
