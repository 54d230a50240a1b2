"""``make soak``: the three example services under locust, with faults on a schedule, and a report.

Starts the collector (``python -m sanic_ms.tracing.collector``) and the cities, roles and users services,
each in its own process on a fresh database, then runs locust (``SoakUser`` in
``bench/locustfile.py``: reads, creates, updates, deletes) for about ``--duration`` seconds
(``SOAK_TIME``, 180 by default), cut into equal slots: steady, a fault, steady, ..., steady
(restarting a killed process on a busy machine can add a few seconds). The faults, in order:

* ``collector down``: the collector is killed, then started again on its port;
* ``downstream down``: the cities service is killed (users calls it), then started again;
* ``backends terminated``: ``pg_terminate_backend`` on every service backend, a few times;
* ``table locked``: a transaction holds ``LOCK TABLE users IN ACCESS EXCLUSIVE MODE``.

Every second it samples each process's RSS and open file descriptors and each pool's backends
(``pg_stat_activity``, by ``application_name``). Writes ``--out`` (``reports/soak``):
``requests.csv`` (every request), ``samples.csv``, ``summary.json``, ``results.md`` (req/s,
status codes and percentiles per phase; memory; backends; integrity) and ``chart.png`` (fault
windows shaded). Integrity: each table's rows must equal seeded + 2xx creates - 2xx deletes.
Exits 1 when a row count is off or a 5xx (or no answer) came outside a fault window (a window
lasts until ``RECOVERY`` seconds after its fault ends). A pool with more backends than its size
is flagged in ``results.md``, not failed.

This module seeds the database, runs locust and writes the files; ``bench/soak_fleet.py`` holds
the processes and the faults, ``bench/soak_report.py`` the analysis and the report.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import asyncpg

from bench import machine
from bench.processes import REPO_ROOT, die_with_parent, get_json, python
from bench.soak_fleet import FAULTS, PROCESSES, SERVICES, Fleet, Window, sample, schedule
from bench.soak_report import (
    integrity,
    markdown,
    memory,
    outside_windows,
    phase_stats,
    phases,
    write_chart,
)

DEFAULT_DURATION = 180.0
SEEDED = {"cities": 5, "roles": 3, "users": 20}


# --- the database -------------------------------------------------------------------------------


async def prepare_database() -> str:
    """A fresh database with the example tables and ``SEEDED`` rows in each."""
    from examples.schema import create_tables
    from grader.postgres import create_database

    dsn = await create_database("sanic_ms_soak")
    conn = await asyncpg.connect(dsn)
    try:
        await create_tables(conn)
        for table in ("cities", "roles"):
            await conn.executemany(
                f"INSERT INTO {table} (name) VALUES ($1)",
                [(f"{table} {i}",) for i in range(1, SEEDED[table] + 1)],
            )
        await conn.executemany(
            "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ($1, $2, $3, $4, $5)",
            [
                (f"seeded {i}", 20 + i, None, 1 + i % SEEDED["cities"], 1 + i % SEEDED["roles"])
                for i in range(1, SEEDED["users"] + 1)
            ],
        )
    finally:
        await conn.close()
    return dsn


async def row_counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in SEEDED}
    finally:
        await conn.close()


# --- locust -------------------------------------------------------------------------------------


def locust_command(fleet: Fleet, users: int, seconds: float, out: Path) -> list[str]:
    return python(
        "-m", "locust",
        "-f", str(REPO_ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--users", str(users),
        "--spawn-rate", str(users),
        # A bound only: the run ends when the schedule does (SIGTERM), restarts included.
        "--run-time", f"{3 * seconds + 300:g}s",
        # Let each user finish the request it is in: a write locust never sees answered would
        # be a row the integrity count cannot explain.
        "--stop-timeout", "30",
        "--host", fleet.urls["users"],
        "--json-file", str(out / "locust"),
        "--only-summary",
        "--loglevel", "WARNING",
        "SoakUser",
    )  # fmt: skip


def locust_env(fleet: Fleet, out: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SOAK_REQUEST_LOG": str(out / "requests.csv"),
        "SOAK_USERS_URL": fleet.urls["users"],
        "SOAK_CITIES_URL": fleet.urls["cities"],
        "SOAK_ROLES_URL": fleet.urls["roles"],
        "SOAK_SEEDED_USERS": str(SEEDED["users"]),
        "SOAK_SEEDED_CITIES": str(SEEDED["cities"]),
        "SOAK_SEEDED_ROLES": str(SEEDED["roles"]),
    }


async def first_request(path: Path, process: asyncio.subprocess.Process) -> float:
    """When locust's first request went out: the schedule's time zero."""

    def first_line() -> str:
        if not path.is_file():
            return ""
        with path.open() as f:
            f.readline()  # the header
            return f.readline()

    while process.returncode is None:
        line = first_line()
        if line.endswith("\n"):
            return float(line.split(",")[0])
        await asyncio.sleep(0.1)
    raise RuntimeError(f"locust exited ({process.returncode}) before its first request")


def read_requests(path: Path) -> list[tuple[float, float, str, int]]:
    with path.open(newline="") as f:
        return [
            (float(r["start"]), float(r["ms"]), r["name"], int(r["status"]))
            for r in csv.DictReader(f)
        ]


# --- the run ------------------------------------------------------------------------------------


async def soak(args: argparse.Namespace, dsn: str, fleet: Fleet) -> dict:
    out = args.out
    windows: list[Window] = []
    done: list[dict] = []
    samples: list[dict] = []
    sampler = asyncio.create_task(sample(fleet, dsn, samples))
    with (out / "locust.log").open("wb") as log:
        locust = await asyncio.create_subprocess_exec(
            *locust_command(fleet, args.users, args.duration, out),
            cwd=REPO_ROOT,
            env=locust_env(fleet, out),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        t0 = await asyncio.wait_for(first_request(out / "requests.csv", locust), 120)
        slot = args.duration / (2 * len(FAULTS) + 1)
        await schedule(fleet, dsn, t0, slot, windows, done)
        locust.send_signal(signal.SIGTERM)  # users finish their request (--stop-timeout)
        await asyncio.wait_for(locust.wait(), 60)
    finally:
        if locust.returncode is None:
            locust.kill()
            await locust.wait()
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    requests = read_requests(out / "requests.csv")
    end = max((r[0] + r[1] / 1000 for r in requests), default=t0)
    reporters = {}
    for name in SERVICES:
        stats = get_json(f"{fleet.urls[name]}/_tracing/stats", timeout=5).get("data") or {}
        counters = stats.get("reporter") or {}
        reporters[name] = {k: counters.get(k) for k in ("sent", "dropped", "unknown")}
    reporters["collector"] = get_json(f"{fleet.urls['collector']}/stats", timeout=5)
    bad = outside_windows(requests, windows)
    return {
        "t0": t0,
        "elapsed_s": round(end - t0, 1),
        "windows": [asdict(w) for w in windows],
        "faults": done,
        "phases": [phase_stats(requests, p) for p in phases(t0, end, windows)],
        "failed_outside_windows": len(bad),
        "failed_outside_examples": [
            {"at_s": round(r[0] - t0, 1), "ms": r[1], "name": r[2], "status": r[3]}
            for r in bad[:10]
        ],
        "memory": memory(samples),
        "max_backends": {
            name: max((s[f"{name}_backends"] for s in samples), default=0) for name in SERVICES
        },
        "reporters": reporters,
        "_requests": requests,
        "_samples": samples,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default = float(os.environ.get("SOAK_TIME") or DEFAULT_DURATION)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=float, default=default, help=f"seconds (SOAK_TIME; default {default:g})"
    )
    parser.add_argument("--users", type=int, default=20, help="locust users (default 20)")
    parser.add_argument("--pool-size", type=int, default=5, help="DB_MAX_SIZE of each service")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "soak")
    args = parser.parse_args(argv)
    if args.duration < 18 or args.users < 1 or args.pool_size < 1:
        parser.error("need --duration >= 18 (two seconds a slot), --users >= 1, --pool-size >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from grader.postgres import drop_database

    args = parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in ("requests.csv", "samples.csv", "summary.json", "chart.png", "results.md"):
        (args.out / stale).unlink(missing_ok=True)
    command = "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine.describe()
    dsn = asyncio.run(prepare_database())
    fleet = Fleet(dsn, args.out, args.pool_size)
    try:
        for name in PROCESSES:
            fleet.start(name)
        print(f"soak: {args.users} users for {args.duration:g} s; faults: {', '.join(FAULTS)}")
        result = asyncio.run(soak(args, dsn, fleet))
    finally:
        fleet.stop()
    try:
        actual = asyncio.run(row_counts(dsn))
    finally:
        asyncio.run(drop_database(dsn))
    requests, samples = result.pop("_requests"), result.pop("_samples")
    summary = {
        "command": command.strip(),
        "duration_s": args.duration,
        "users": args.users,
        "pool_size": args.pool_size,
        "machine": machine.markdown(info),
        **result,
        "integrity": integrity(requests, SEEDED, actual),
    }
    with (args.out / "samples.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(samples[0]) if samples else ["t"])
        writer.writeheader()
        writer.writerows(samples)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    windows = [Window(**w) for w in summary["windows"]]
    write_chart(args.out / "chart.png", requests, samples, windows, summary["t0"], args.pool_size)
    text = markdown(summary)
    (args.out / "results.md").write_text(text)
    print(text)
    exact = all(i["exact"] for i in summary["integrity"].values())
    return 0 if exact and not summary["failed_outside_windows"] else 1


if __name__ == "__main__":
    sys.exit(main())
