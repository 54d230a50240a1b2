"""``make bench``: what the framework's conveniences cost, against bare Sanic and peers, in one run.

The apps (``bench/overhead_apps.py``, ``bench/peer_apps.py``), each its own process with one
worker unless named otherwise, all driven by the same load generator (wrk when installed, else
locust ``FastHttpUser``) on 127.0.0.1:

* ``bare``: Sanic + a raw asyncpg pool;
* ``envelope``: ``sanic_ms`` with the envelope and its database layer, nothing logged or traced;
* ``framework``: + a JSON log line per request;
* ``traced``: + tracing at 100%, spans posted to a local collector (``python -m
  sanic_ms.tracing.collector --max-traces 0``, count-only): the full stack;
* ``collector_down``: the same with nothing listening at ``ZIPKIN_URL``;
* ``traced_2w``: the full stack with two worker processes (``--workers 2``): what one box gives;
* ``fastapi_bare``, ``litestar_bare``: the peers, bare, on uvicorn (uvloop, httptools);
* ``fastapi_otel``: FastAPI with OpenTelemetry (FastAPI and asyncpg instrumentors, batch
  processor, Zipkin JSON to the same collector) and a JSON log line per request.

Each serves ``/hello`` and ``/row/1``. Rounds run the apps in turn; the best round of each counts
(noise on a shared machine only ever slows a run down). Then end to end: ``GET /users/<id>`` over
the three example services, each downstream held ``--e2e-delay-ms``, parallel and sequential.

Writes ``summary.csv``, ``e2e.csv`` and ``results.md`` into ``--out`` (``reports/bench``), and
the results section of ``BENCHMARKS.md`` (unless ``--no-benchmarks-md``).

This module starts the servers and runs the rounds; ``bench/overhead_measure.py`` drives the load
generator, ``bench/overhead_report.py`` writes the tables and the goals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from math import nan
from pathlib import Path

import asyncpg

from bench import benchmarks_md, machine
from bench.overhead_measure import APPS, ENDPOINTS, Generator, Measure
from bench.overhead_report import best, lowest_p99, render, write_csv
from bench.processes import (
    HOST,
    REPO_ROOT,
    Server,
    cpu_seconds,
    free_port,
    get_json,
    python,
    running_all,
)

# app -> (file in bench/, factory, worker processes)
FACTORY = {
    "bare": ("overhead_apps.py", "bare", 1),
    "envelope": ("overhead_apps.py", "envelope", 1),
    "framework": ("overhead_apps.py", "framework", 1),
    "traced": ("overhead_apps.py", "traced", 1),
    "collector_down": ("overhead_apps.py", "traced", 1),
    "traced_2w": ("overhead_apps.py", "traced", 2),
    "fastapi_bare": ("peer_apps.py", "fastapi_bare", 1),
    "fastapi_otel": ("peer_apps.py", "fastapi_otel", 1),
    "litestar_bare": ("peer_apps.py", "litestar_bare", 1),
}
TRACED = ("traced", "collector_down", "traced_2w", "fastapi_otel")  # post spans to ZIPKIN_URL
ROWS = 1000
SECTION = "make bench"  # the part of BENCHMARKS.md this script writes


# --- the database -------------------------------------------------------------------------------


async def prepare_database() -> str:
    """A fresh database with ``bench_rows`` and the example services' tables and rows."""
    from examples.schema import create_example_rows
    from grader.postgres import create_database

    dsn = await create_database("sanic_ms_bench")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_rows (id int PRIMARY KEY, name text, email text)")
        await conn.executemany(
            "INSERT INTO bench_rows VALUES ($1, $2, $3)",
            [(i, f"user {i}", f"user{i}@example.org") for i in range(1, ROWS + 1)],
        )
    finally:
        await conn.close()
    await create_example_rows(dsn, role="student", sex="f")
    return dsn


E2E_POOL_SIZE = 2  # per end-to-end service: each request holds its connection for one query


def connections_needed(e2e: bool) -> int:
    """Connections the run's pools can hold at once: every app's, per worker, and end to end."""
    from bench.overhead_apps import POOL_SIZE

    apps = sum(POOL_SIZE * workers for _, _, workers in (FACTORY[app] for app in APPS))
    return apps + (3 * E2E_POOL_SIZE if e2e else 0)


async def check_connections(dsn: str, needed: int) -> None:
    """Refuse to start when PostgreSQL cannot give every pool its connections.

    Short of them, the last apps measured would answer errors (too many clients), and their rows
    would compare a failing app with working ones.
    """
    conn = await asyncpg.connect(dsn)
    try:
        free = await conn.fetchval(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        )
    finally:
        await conn.close()
    if free < needed:
        raise SystemExit(
            f"make bench needs {needed} PostgreSQL connections at once and the server has {free} "
            "free: close other clients (a test run, a notebook) or raise max_connections"
        )


# --- runs ---------------------------------------------------------------------------------------


def serve_args(
    factory: str, port: int, file: str = "overhead_apps.py", workers: int = 1
) -> list[str]:
    target = f"{REPO_ROOT / 'bench' / file}:{factory}"
    return python("-m", "bench.serve", target, "--port", str(port), "--workers", str(workers))


@dataclass
class Setup:
    """Every server of a run (started together: startup dominates a short run) and their URLs."""

    servers: list[Server]
    apps: dict[str, str]  # app -> base URL
    sink: str
    users: str | None  # the end-to-end users service, when it runs


def plan(dsn: str, args: argparse.Namespace, out: Path) -> Setup:
    sink_port, closed_port = free_port(), free_port()  # nothing ever listens on closed_port
    sink = f"http://{HOST}:{sink_port}"
    zipkin = {app: sink for app in TRACED} | {"collector_down": f"http://{HOST}:{closed_port}"}
    servers = [
        Server(python("-m", "sanic_ms.tracing.collector", "--port", str(sink_port), "--max-traces", "0"),
               out / "sink.log", ready_url=f"{sink}/stats"),
    ]  # fmt: skip
    apps = {}
    for app in APPS:
        port = free_port()
        apps[app] = f"http://{HOST}:{port}"
        env = {"DATABASE_URL": dsn, "LOG_LEVEL": "INFO"}
        if app in zipkin:
            env["ZIPKIN_URL"] = zipkin[app]
        file, factory, workers = FACTORY[app]
        servers.append(
            Server(serve_args(factory, port, file, workers), out / f"{app}.log", env,
                   ready_url=f"{apps[app]}/hello", discard_stdout=True)
        )  # fmt: skip
    if args.no_e2e:
        return Setup(servers, apps, sink, None)
    ports = {name: free_port() for name in ("cities", "roles", "users")}
    # Small pools: the apps above hold most of PostgreSQL's default 100 connections, and each e2e
    # request holds its connection only for one query, never across the 50 ms calls.
    base = {
        "DATABASE_URL": dsn,
        "E2E_DELAY": repr(args.e2e_delay_ms / 1000),
        "ZIPKIN_URL": sink,
        "DB_MAX_SIZE": str(E2E_POOL_SIZE),
    }
    users = f"http://{HOST}:{ports['users']}"
    users_env = {
        **base,
        "CITIES_SERVICE_URL": f"http://{HOST}:{ports['cities']}",
        "ROLES_SERVICE_URL": f"http://{HOST}:{ports['roles']}",
    }
    servers += [
        *(
            Server(serve_args(factory, ports[name]), out / f"e2e_{name}.log", base,
                   ready_url=f"http://{HOST}:{ports[name]}/{name}/1", discard_stdout=True)
            for name, factory in (("cities", "cities_delayed"), ("roles", "roles_delayed"))
        ),
        # Started last: its readiness URL calls the other two.
        Server(serve_args("users_e2e", ports["users"]), out / "e2e_users.log", users_env,
               ready_url=f"{users}/users/1", discard_stdout=True),
    ]  # fmt: skip
    return Setup(servers, apps, sink, users)


def overhead_runs(
    gen: Generator, setup: Setup, args: argparse.Namespace, pids: dict[str, int]
) -> list[Measure]:
    if args.warmup:  # pools full, code paths hot
        for app in APPS:
            for path in ENDPOINTS.values():
                gen.measure(setup.apps[app] + path, args.connections, args.warmup)
    measures = []
    for round_ in range(1, args.rounds + 1):
        for app in APPS:
            for endpoint, path in ENDPOINTS.items():
                print(f"bench: round {round_}, {app} {endpoint}", flush=True)
                cpu_before = cpu_seconds(pids[app])
                result = gen.measure(setup.apps[app] + path, args.connections, args.duration)
                cpu = cpu_seconds(pids[app]) - cpu_before
                measures.append(
                    Measure(app, endpoint, gen.name, args.connections, args.duration,
                            round=round_, **result,
                            cpu_us=1e6 * cpu / result["requests"] if result["requests"] else nan)
                )  # fmt: skip
    return measures


def tracing_stats(setup: Setup) -> dict:
    """The traced apps' reporter counters and what the collector received."""
    stats = {
        app: get_json(f"{setup.apps[app]}/_tracing/stats") for app in ("traced", "collector_down")
    }
    return stats | {"sink": get_json(f"{setup.sink}/stats")}


def e2e_runs(gen: Generator, setup: Setup, args: argparse.Namespace) -> list[Measure]:
    users = setup.users
    check = get_json(f"{users}/users/1")
    if not (isinstance(check.get("data"), dict) and "city" in check["data"]):
        raise RuntimeError(f"GET /users/1 did not return a user with a city: {check}")
    measures = []
    for connections in args.e2e_connections:
        for variant, path in (("parallel", "/users/1"), ("sequential", "/users-sequential/1")):
            if args.warmup:
                gen.measure(users + path, connections, args.warmup)
            print(f"bench: end to end, {variant}, {connections} connection(s)", flush=True)
            result = gen.measure(users + path, connections, args.e2e_duration)
            measures.append(
                Measure("users", variant, gen.name, connections, args.e2e_duration, **result)
            )
    return measures


def connection_counts(text: str) -> list[int]:
    """``"1,10"`` -> ``[1, 10]`` (argparse shows the function's name when this raises)."""
    return [int(n) for n in text.split(",")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per endpoint run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the best one counts")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each measure")
    parser.add_argument("--generator", choices=("auto", "wrk", "locust"), default="auto")
    parser.add_argument(
        "--e2e-connections",
        type=connection_counts,
        default=[1, 10],
        help="comma-separated, one run each (default 1,10)",
    )
    parser.add_argument("--e2e-duration", type=float, default=10.0)
    parser.add_argument("--e2e-delay-ms", type=float, default=50.0)
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end runs")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "bench")
    parser.add_argument(
        "--no-benchmarks-md", action="store_true", help="leave BENCHMARKS.md as it is"
    )
    args = parser.parse_args(argv)
    if (
        args.duration <= 0
        or args.rounds < 1
        or args.connections < 1
        or min(args.e2e_connections) < 1
    ):
        parser.error("need --duration > 0, --rounds >= 1, --connections >= 1")
    return args


def main(argv: list[str] | None = None) -> str:
    from grader.postgres import drop_database

    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.overhead " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine.describe()  # before the run: its load average is the others' work, not ours
    with tempfile.TemporaryDirectory() as scratch:
        gen = Generator(args.generator, Path(scratch))
        print(f"bench: load generator {gen.name}", flush=True)
        dsn = asyncio.run(prepare_database())
        try:
            asyncio.run(check_connections(dsn, connections_needed(not args.no_e2e)))
            setup = plan(dsn, args, out)
            with running_all(setup.servers) as processes:
                # setup.servers: the sink, then one per app in APPS order.
                pids = {app: p.pid for app, p in zip(APPS, processes[1:], strict=False)}
                measures = overhead_runs(gen, setup, args, pids)
                tracing = tracing_stats(setup)  # before end to end adds its own spans
                e2e = [] if args.no_e2e else e2e_runs(gen, setup, args)
        finally:
            asyncio.run(drop_database(dsn))
    chosen = best(measures)
    section = render(
        chosen, e2e, tracing, args, gen, info, command.strip(), p99=lowest_p99(measures)
    )
    write_csv(measures, out / "summary.csv")
    write_csv(e2e, out / "e2e.csv")
    (out / "results.md").write_text(f"# make bench\n\n{section}")
    (out / "tracing.json").write_text(json.dumps(tracing, indent=2))
    if not args.no_benchmarks_md:
        benchmarks_md.update(SECTION, section)
    print(section)
    return section


if __name__ == "__main__":
    main()
