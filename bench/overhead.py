"""``make bench``: what the framework's conveniences cost, against bare Sanic and peers, in one run.

The apps (``bench/overhead_apps.py``, ``bench/peer_apps.py``), each its own process with one
worker unless named otherwise, all driven by the same load generator (wrk when installed, else
locust ``FastHttpUser``) on 127.0.0.1:

* ``bare``: Sanic + a raw asyncpg pool;
* ``framework``: ``sanic_ms`` with the envelope and a JSON log line per request;
* ``traced``: + tracing at 100%, spans posted to a local collector (``python -m
  sanic_ms.collector --max-traces 0``, count-only): the full stack;
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
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import asdict, dataclass, fields
from math import nan
from pathlib import Path

import asyncpg

from bench import benchmarks_md, machine
from bench.processes import (
    HOST,
    REPO_ROOT,
    Server,
    cpu_seconds,
    die_with_parent,
    free_port,
    python,
    running_all,
)

APPS = (
    "bare", "framework", "traced", "collector_down", "traced_2w",
    "fastapi_bare", "fastapi_otel", "litestar_bare",
)  # fmt: skip
ENDPOINTS = {"hello": "/hello", "row": "/row/1"}
# app -> (file in bench/, factory, worker processes)
FACTORY = {
    "bare": ("overhead_apps.py", "bare", 1),
    "framework": ("overhead_apps.py", "framework", 1),
    "traced": ("overhead_apps.py", "traced", 1),
    "collector_down": ("overhead_apps.py", "traced", 1),
    "traced_2w": ("overhead_apps.py", "traced", 2),
    "fastapi_bare": ("peer_apps.py", "fastapi_bare", 1),
    "fastapi_otel": ("peer_apps.py", "fastapi_otel", 1),
    "litestar_bare": ("peer_apps.py", "litestar_bare", 1),
}
TRACED = ("traced", "collector_down", "traced_2w", "fastapi_otel")  # post spans to ZIPKIN_URL
# Issue 15's goals, as ratios of req/s in one run. (name, numerator, denominator, endpoints, goal)
RATIO_GOALS = (
    ("full stack / bare Sanic", "traced", "bare", ("hello", "row"), 0.60),
    ("full stack / bare Sanic (stretch)", "traced", "bare", ("row",), 0.80),
    ("tracing on / off", "traced", "framework", ("row",), 0.85),
    ("full stack / FastAPI + OpenTelemetry", "traced", "fastapi_otel", ("hello", "row"), 4.0),
    ("full stack / bare FastAPI", "traced", "fastapi_bare", ("hello", "row"), 1.0),
    ("full stack / bare Litestar (stretch)", "traced", "litestar_bare", ("row",), 1.0),
)
P99_GOAL = 1.1  # collector-down p99 / collector-up p99
E2E_P50_GOAL_MS = 60.0
ROWS = 1000
SECTION = "make bench"  # the part of BENCHMARKS.md this script writes


@dataclass
class Measure:
    """One load-generator run against one URL."""

    app: str
    endpoint: str
    generator: str
    connections: int
    seconds: float
    requests: int
    errors: int  # non-2xx answers plus socket errors
    rps: float
    p50_ms: float
    p99_ms: float
    round: int = 0
    # CPU time the app's process spent per request: unlike req/s, barely moved by other work
    # competing for the machine's cores.
    cpu_us: float = float("nan")


# --- load generators --------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNIT_MS[match[2]]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests, errors, req/s, p50 and p99 from ``wrk --latency`` output."""

    def find(pattern: str) -> re.Match:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise ValueError(f"wrk output has no {pattern!r}:\n{output}")
        return match

    errors = 0
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(non_2xx[1])
    if sockets := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(n) for n in sockets.groups())
    return {
        "requests": int(find(r"^\s*(\d+) requests in")[1]),
        "errors": errors,
        "rps": float(find(r"^Requests/sec:\s*([\d.]+)")[1]),
        "p50_ms": _ms(find(r"^\s*50%\s+(\S+)")[1]),
        "p99_ms": _ms(find(r"^\s*99%\s+(\S+)")[1]),
    }


def run_wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    # One wrk thread: the other core belongs to the app under test.
    args = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "10s",
        url,
    ]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=seconds + 60, preexec_fn=die_with_parent
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def run_locust(url: str, connections: int, seconds: float, csv_dir: Path) -> dict[str, float]:
    from bench.load import SPAWN_RATE, read_stats  # same locust settings as make load

    base, _, path = url.partition("://")[2].partition("/")
    prefix = csv_dir / re.sub(r"\W+", "_", f"{base}_{path}")
    args = python(
        "-m", "locust", "-f", str(REPO_ROOT / "bench" / "locustfile.py"), "--headless",
        "--users", str(connections), "--spawn-rate", str(SPAWN_RATE),
        "--run-time", f"{seconds:g}s", "--stop-timeout", "0", "--reset-stats",
        "--host", f"http://{base}", "--csv", str(prefix), "--json-file", str(prefix),
        "--only-summary", "--loglevel", "WARNING", "AnyPath",
    )  # fmt: skip
    env = {**os.environ, "LOCUST_PATH": "/" + path}
    subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, timeout=seconds + 60,
        preexec_fn=die_with_parent,
    )  # fmt: skip
    stats = read_stats(Path(f"{prefix}.json"))
    return {k: stats[k] for k in ("requests", "rps", "p50_ms", "p99_ms")} | {
        "errors": stats["failures"]
    }


class Generator:
    """The load generator of this run: wrk if installed, else locust."""

    def __init__(self, choice: str, csv_dir: Path):
        wrk = shutil.which("wrk")
        if choice == "wrk" and not wrk:
            raise SystemExit("--generator wrk: wrk is not installed (apt-get install -y wrk)")
        self.name = "wrk" if (choice in ("auto", "wrk") and wrk) else "locust"
        self.version = machine.wrk_version() if self.name == "wrk" else "locust FastHttpUser"
        self.csv_dir = csv_dir

    def measure(self, url: str, connections: int, seconds: float) -> dict[str, float]:
        if self.name == "wrk":
            return run_wrk(url, connections, seconds)
        return run_locust(url, connections, seconds, self.csv_dir)


# --- the database -------------------------------------------------------------------------------


async def prepare_database() -> str:
    """A fresh database with ``bench_rows`` and the example services' tables and rows."""
    from examples.schema import create_tables
    from grader.postgres import create_database

    dsn = await create_database("sanic_ms_bench")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_rows (id int PRIMARY KEY, name text, email text)")
        await conn.executemany(
            "INSERT INTO bench_rows VALUES ($1, $2, $3)",
            [(i, f"user {i}", f"user{i}@example.org") for i in range(1, ROWS + 1)],
        )
        await create_tables(conn)
        await conn.execute("INSERT INTO cities (name) VALUES ('Lisbon')")
        await conn.execute("INSERT INTO roles (name) VALUES ('student')")
        await conn.execute(
            "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ('Ada', 36, 'f', 1, 1)"
        )
    finally:
        await conn.close()
    return dsn


def get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.load(answer)
    except OSError as error:
        return {"error": str(error)}


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
        Server(python("-m", "sanic_ms.collector", "--port", str(sink_port), "--max-traces", "0"),
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
    # Small pools: the apps above already hold up to 90 of PostgreSQL's default 100 connections,
    # and each e2e request holds its connection only for one query, never across the 50 ms calls.
    base = {
        "DATABASE_URL": dsn,
        "E2E_DELAY": repr(args.e2e_delay_ms / 1000),
        "ZIPKIN_URL": sink,
        "DB_MAX_SIZE": "2",
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


# --- reporting ----------------------------------------------------------------------------------


def best(measures: list[Measure]) -> dict[tuple[str, str], Measure]:
    """Per (app, endpoint), the round with the most requests/s."""
    chosen: dict[tuple[str, str], Measure] = {}
    for m in measures:
        key = (m.app, m.endpoint)
        if key not in chosen or m.rps > chosen[key].rps:
            chosen[key] = m
    return chosen


PEER = "fastapi_otel"  # the usual observable choice: the second yardstick beside bare Sanic


def overhead_table(chosen: dict[tuple[str, str], Measure]) -> str:
    lines = [
        "| endpoint | app | req/s | of bare Sanic | of FastAPI + OTel | overhead µs/request "
        "| CPU µs/request | of bare by CPU | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        bare, peer = chosen.get(("bare", endpoint)), chosen.get((PEER, endpoint))
        for app in APPS:
            m = chosen.get((app, endpoint))
            if m is None:
                continue
            ratio = f"{m.rps / bare.rps:.2f}" if bare and bare.rps else "n/a"
            of_peer = f"{m.rps / peer.rps:.2f}" if peer and peer.rps else "n/a"
            extra = f"{1e6 / m.rps - 1e6 / bare.rps:+.0f}" if bare and m.rps and bare.rps else "n/a"
            by_cpu = f"{bare.cpu_us / m.cpu_us:.2f}" if bare and m.cpu_us > 0 else "n/a"
            lines.append(
                f"| {endpoint} | {app} | {m.rps:,.0f} | {ratio} | {of_peer} | {extra} "
                f"| {m.cpu_us:.0f} | {by_cpu} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.errors} |"
            )
    return "\n".join(lines)


def goal_lines(chosen: dict[tuple[str, str], Measure], e2e: list[Measure]) -> list[str]:
    lines = []
    for name, numerator, denominator, endpoints, goal in RATIO_GOALS:
        for endpoint in endpoints:
            top, bottom = chosen.get((numerator, endpoint)), chosen.get((denominator, endpoint))
            if top and bottom and bottom.rps:
                ratio = top.rps / bottom.rps
                lines.append(
                    f"- `{endpoint}`: {name} = {ratio:.2f} (goal ≥ {goal:.2f}): "
                    f"{'met' if ratio >= goal else 'MISSED'}"
                )
    for endpoint in ENDPOINTS:
        one, two = chosen.get(("traced", endpoint)), chosen.get(("traced_2w", endpoint))
        if one and two and one.rps:
            lines.append(
                f"- `{endpoint}`: full stack, 2 workers / 1 worker = {two.rps / one.rps:.2f} "
                "(what one 2-core box gives, load generator included)"
            )
    for endpoint in ENDPOINTS:
        up, down = chosen.get(("traced", endpoint)), chosen.get(("collector_down", endpoint))
        if up and down and up.p99_ms:
            ratio = down.p99_ms / up.p99_ms
            lines.append(
                f"- `{endpoint}`: collector-down p99 {down.p99_ms:.2f} ms = {ratio:.2f}x "
                f"collector-up {up.p99_ms:.2f} ms (goal ≤ {P99_GOAL}x): "
                f"{'met' if ratio <= P99_GOAL else 'MISSED'}"
            )
    for parallel in (m for m in e2e if m.endpoint == "parallel"):
        lines.append(
            f"- end to end, {parallel.connections} connection(s): parallel p50 "
            f"{parallel.p50_ms:.1f} ms (goal ≤ {E2E_P50_GOAL_MS:.0f} ms): "
            f"{'met' if parallel.p50_ms <= E2E_P50_GOAL_MS else 'MISSED'}"
        )
    return lines


def e2e_table(e2e: list[Measure], delay_ms: float) -> str:
    lines = [
        f"| GET /users/1, downstreams held {delay_ms:g} ms | connections | req/s | p50 ms "
        "| p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in e2e:
        lines.append(
            f"| {m.endpoint} | {m.connections} | {m.rps:,.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} "
            f"| {m.errors} |"
        )
    return "\n".join(lines)


def tracing_line(tracing: dict) -> str:
    parts = []
    for app in ("traced", "collector_down"):
        stats = tracing.get(app, {})
        stats = stats.get("data", stats)  # sanic_ms apps answer in the envelope
        reporter = stats.get("reporter") if isinstance(stats, dict) else None
        if stats.get("enabled") and reporter:
            keep = ("queued", "sent", "dropped", "failed_posts")
            parts.append(f"{app}: " + ", ".join(f"{k} {reporter.get(k)}" for k in keep))
        else:
            parts.append(f"{app}: tracing not enabled ({stats})")
    sink = tracing.get("sink", {})
    parts.append(f"collector received {sink.get('spans')} spans in {sink.get('batches')} posts")
    return "; ".join(parts)


def render(
    chosen: dict[tuple[str, str], Measure], e2e: list[Measure], tracing: dict,
    args: argparse.Namespace, gen: Generator, info: dict[str, str], command: str,
) -> str:  # fmt: skip
    parts = [
        f"Run {info['date']} with `{command}`.",
        "",
        f"Machine: {machine.markdown(info)}.",
        "",
        f"Load generator: **{gen.name}** ({gen.version}), {args.connections} connections, "
        f"{args.duration:g} s per endpoint, best of {args.rounds} round(s); one worker per app "
        "(`traced_2w`: two); app and load generator share the machine's cores. Peers on uvicorn "
        f"{_version('uvicorn')} (uvloop, httptools): FastAPI {_version('fastapi')}, Litestar "
        f"{_version('litestar')}, OpenTelemetry SDK {_version('opentelemetry-sdk')}.",
        "",
        overhead_table(chosen),
        "",
        "Overhead µs/request = 1e6/req/s(app) - 1e6/req/s(bare): the extra time one worker spends "
        "per request. CPU µs/request: the app process's CPU time (user + system) over the run "
        "divided by its requests; other work on the machine barely moves it, so *of bare by CPU* "
        "(bare's CPU per request / the app's) is the steadier estimate of the req/s ratio.",
        "",
        f"Tracing: {tracing_line(tracing)}.",
        "",
    ]
    if e2e:
        parts += [
            f"End to end ({args.e2e_duration:g} s each; users, cities and roles one worker each, "
            "tracing to a local collector; one connection shows the latency the parallel calls "
            "give, more connections show it under load):",
            "",
            e2e_table(e2e, args.e2e_delay_ms),
            "",
        ]
    parts += ["Goals:", "", *goal_lines(chosen, e2e)]
    return "\n".join(parts) + "\n"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def write_csv(measures: list[Measure], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[f.name for f in fields(Measure)])
        writer.writeheader()
        for m in measures:
            writer.writerow(asdict(m))


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
    section = render(chosen, e2e, tracing, args, gen, info, command.strip())
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
