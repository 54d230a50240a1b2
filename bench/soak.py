"""``make soak``: the three example services under locust, with faults on a schedule, and a report.

Starts the collector (``python -m sanic_ms.collector``) and the cities, roles and users services,
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
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg

from bench import machine
from bench.load import percentile
from bench.processes import (
    HOST,
    REPO_ROOT,
    die_with_parent,
    free_port,
    open_fds,
    python,
    rss_mb,
    stop_all,
    wait_http,
)

DEFAULT_DURATION = 180.0
SEEDED = {"cities": 5, "roles": 3, "users": 20}
SERVICES = ("cities", "roles", "users")  # start order: users calls the other two
PROCESSES = ("collector", *SERVICES)
FAULTS = ("collector down", "downstream down", "backends terminated", "table locked")
RECOVERY = 3.0  # seconds after a fault ends that still belong to its window (pools reconnect)
DOWNSTREAM = "cities"


@dataclass
class Window:
    """When a fault was in force (epoch seconds), as observed by the scheduler."""

    name: str
    start: float
    end: float


# --- the processes ------------------------------------------------------------------------------


class Fleet:
    """The collector and the three services as child processes, each restartable on its port."""

    def __init__(self, dsn: str, out: Path, pool_size: int):
        self.out = out
        self.ports = {name: free_port() for name in PROCESSES}
        self.urls = {name: f"http://{HOST}:{port}" for name, port in self.ports.items()}
        self.processes: dict[str, subprocess.Popen] = {}
        sep = "&" if "?" in dsn else "?"
        self.env = {
            name: {
                # application_name tells the pools apart in pg_stat_activity.
                "DATABASE_URL": f"{dsn}{sep}application_name=soak-{name}",
                "DB_MAX_SIZE": str(pool_size),
                "ZIPKIN_URL": self.urls["collector"],
                "LOG_LEVEL": "WARNING",
            }
            for name in SERVICES
        }
        self.env["users"] |= {
            "CITIES_SERVICE_URL": self.urls["cities"],
            "ROLES_SERVICE_URL": self.urls["roles"],
        }
        self.env["collector"] = {}
        self.ready = {
            "collector": "/stats",
            "cities": "/cities/1",
            "roles": "/roles/1",
            "users": "/users/1",
        }

    def command(self, name: str) -> list[str]:
        port = str(self.ports[name])
        if name == "collector":
            return python("-m", "sanic_ms.collector", "--port", port)
        return python("-m", "bench.serve", f"examples.{name}.server:create_app", "--port", port)

    def start(self, name: str) -> None:
        log = self.out / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as f:
            process = subprocess.Popen(
                self.command(name),
                cwd=REPO_ROOT,
                env={**os.environ, **self.env[name]},
                # The collector prints every trace's tree: that work is part of the soak, the
                # text is not worth the disk.
                stdout=subprocess.DEVNULL if name == "collector" else f,
                stderr=f,
                preexec_fn=die_with_parent,
            )
        self.processes[name] = process
        try:
            wait_http(self.urls[name] + self.ready[name], timeout=60, process=process)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}\n--- {log} ---\n{log.read_text()[-2000:]}") from None

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, not a shutdown; nothing gets flushed or closed."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        stop_all(list(self.processes.values()))


# --- the faults ---------------------------------------------------------------------------------


async def fault(name: str, fleet: Fleet, dsn: str, seconds: float) -> dict:
    """Inflict fault ``name`` for ``seconds``; returns what was done, for the report."""
    if name in ("collector down", "downstream down"):
        victim = "collector" if name == "collector down" else DOWNSTREAM
        fleet.kill(victim)
        await asyncio.sleep(seconds)
        began = time.monotonic()
        await asyncio.to_thread(fleet.start, victim)
        return {"killed": victim, "restart_s": round(time.monotonic() - began, 1)}
    if name == "backends terminated":
        apps = [f"soak-{s}" for s in SERVICES]
        conn = await asyncpg.connect(dsn, server_settings={"application_name": "soak-fault"})
        terminated = []
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                killed = await conn.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = ANY($1)",
                    apps,
                )
                terminated.append(killed)
                await asyncio.sleep(max(1.0, seconds / 3))
        finally:
            await conn.close()
        return {"terminated": terminated}
    if name == "table locked":
        conn = await asyncpg.connect(dsn, server_settings={"application_name": "soak-fault"})
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                await asyncio.sleep(seconds)
        finally:
            await conn.close()
        return {"locked": "users", "seconds": round(seconds, 1)}
    raise ValueError(f"unknown fault {name!r}")


async def schedule(
    fleet: Fleet, dsn: str, t0: float, slot: float, windows: list[Window], done: list[dict]
) -> None:
    """Steady, fault, steady, fault, ..., steady: ``slot`` seconds each.

    A restart on a busy machine can outlast its slot; the next steady slot then starts when it
    is done, so every fault is followed by a full steady slot.
    """
    at = t0 + slot
    for name in FAULTS:
        await asyncio.sleep(max(0.0, at - time.time()))
        print(f"soak: {name} for {slot:.0f} s", flush=True)
        start = time.time()
        details = await fault(name, fleet, dsn, slot)
        windows.append(Window(name, start, time.time()))
        done.append({"fault": name, **details})
        at = time.time() + slot
    await asyncio.sleep(max(0.0, at - time.time()))


# --- sampling -----------------------------------------------------------------------------------


async def sample(fleet: Fleet, dsn: str, samples: list[dict], every: float = 1.0) -> None:
    """Each ``every`` s: RSS and fds per process, backends per pool (by application_name)."""
    conn = await asyncpg.connect(dsn, server_settings={"application_name": "soak-monitor"})
    try:
        while True:
            row: dict = {"t": round(time.time(), 2)}
            for name in PROCESSES:
                pid = fleet.processes[name].pid
                row[f"{name}_rss_mb"] = round(rss_mb(pid), 1)
                row[f"{name}_fds"] = open_fds(pid)
            counts = dict(
                await conn.fetch(
                    "SELECT application_name, count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() GROUP BY 1"
                )
            )
            for name in SERVICES:
                row[f"{name}_backends"] = counts.get(f"soak-{name}", 0)
            samples.append(row)
            await asyncio.sleep(every)
    finally:
        await conn.close()


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


# --- the report ---------------------------------------------------------------------------------


def phases(t0: float, end: float, windows: list[Window]) -> list[Window]:
    """The run cut at each fault window: steady, fault, steady, ..."""
    out, at = [], t0
    for w in sorted(windows, key=lambda w: w.start):
        out.append(Window("steady" if at == t0 else f"after {out[-1].name}", at, w.start))
        out.append(w)
        at = w.end
    out.append(Window(f"after {out[-1].name}" if windows else "steady", at, end))
    return out


def phase_stats(requests, phase: Window) -> dict:
    mine = [r for r in requests if phase.start <= r[0] < phase.end]
    ms = Counter(round(r[1]) for r in mine)
    seconds = max(phase.end - phase.start, 1e-9)
    return {
        "phase": phase.name,
        "seconds": round(seconds, 1),
        "requests": len(mine),
        "rps": round(len(mine) / seconds, 1),
        "statuses": dict(sorted(Counter(str(r[3]) for r in mine).items())),
        "p50_ms": percentile(ms, 0.50),
        "p95_ms": percentile(ms, 0.95),
        "p99_ms": percentile(ms, 0.99),
    }


def failed(status: int) -> bool:
    """A 5xx, or no HTTP answer at all (status 0)."""
    return status >= 500 or status == 0


def outside_windows(requests, windows: list[Window]) -> list[tuple[float, float, str, int]]:
    """Failed requests that overlap no fault window (each stretched by ``RECOVERY``)."""
    spans = [(w.start, w.end + RECOVERY) for w in windows]
    return [
        r
        for r in requests
        if failed(r[3]) and not any(r[0] <= end and r[0] + r[1] / 1000 >= s for s, end in spans)
    ]


def integrity(requests, seeded: dict[str, int], actual: dict[str, int]) -> dict[str, dict]:
    ok = Counter(r[2] for r in requests if 200 <= r[3] < 300)
    out = {}
    for table in seeded:
        created = ok[f"POST /{table}"]
        deleted = ok[f"DELETE /{table}/<id>"]
        expected = seeded[table] + created - deleted
        out[table] = {
            "seeded": seeded[table],
            "created": created,
            "deleted": deleted,
            "expected": expected,
            "actual": actual[table],
            "exact": expected == actual[table],
        }
    return out


def memory(samples: list[dict]) -> dict[str, dict]:
    """Per process: RSS at the end of the first quarter, at the end, and the peak (MB)."""
    out = {}
    for name in PROCESSES:
        rss = [s[f"{name}_rss_mb"] for s in samples if s[f"{name}_rss_mb"] == s[f"{name}_rss_mb"]]
        fds = [s[f"{name}_fds"] for s in samples if s[f"{name}_fds"] >= 0]
        if not rss:
            continue
        quarter = rss[: max(1, len(rss) // 4)]
        out[name] = {
            "rss_warm_mb": statistics.median(quarter[-5:]),
            "rss_end_mb": statistics.median(rss[-5:]),
            "rss_peak_mb": max(rss),
            "fds_max": max(fds, default=-1),
            "fds_end": fds[-1] if fds else -1,
        }
    return out


def write_chart(path: Path, requests, samples, windows, t0: float, pool_size: int) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and CI
    import matplotlib.pyplot as plt

    per_second: dict[int, Counter] = {}
    latency: dict[int, list[float]] = {}
    for start, ms, _name, status in requests:
        second = int(start - t0)
        kind = "5xx / no answer" if failed(status) else "4xx" if status >= 400 else "2xx/3xx"
        per_second.setdefault(second, Counter())[kind] += 1
        latency.setdefault(second, []).append(ms)
    xs = sorted(per_second)
    fig, axes = plt.subplots(4, 1, figsize=(11, 10.5), dpi=100, sharex=True)
    ok_ax, ms_ax, rss_ax, db_ax = axes
    bottom = [0] * len(xs)
    colors = {"2xx/3xx": "#2ca02c", "4xx": "#ff7f0e", "5xx / no answer": "#d62728"}
    for kind, color in colors.items():
        heights = [per_second[x][kind] for x in xs]
        ok_ax.bar(xs, heights, 1.0, bottom=bottom, color=color, label=kind)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ok_ax.set_ylabel("requests/s")
    ok_ax.legend(fontsize=8, loc="lower left")
    ms_ax.plot(xs, [percentile(Counter(map(round, latency[x])), 0.95) for x in xs], color="k")
    ms_ax.set_yscale("log")
    ms_ax.set_ylabel("p95 ms (log)")
    times = [s["t"] - t0 for s in samples]
    for name in PROCESSES:
        rss_ax.plot(times, [s[f"{name}_rss_mb"] for s in samples], label=name)
    rss_ax.set_ylabel("RSS MB")
    rss_ax.legend(fontsize=8, loc="upper left")
    for name in SERVICES:
        db_ax.step(times, [s[f"{name}_backends"] for s in samples], where="post", label=name)
    db_ax.axhline(pool_size, color="grey", linestyle="--", label=f"pool size {pool_size}")
    db_ax.set_ylabel("backends")
    db_ax.set_xlabel("seconds")
    db_ax.legend(fontsize=8, loc="upper left")
    for i, w in enumerate(windows):
        for ax in axes:
            ax.axvspan(w.start - t0, w.end - t0, color="#d62728", alpha=0.12)
        # Two rows of labels: neighbouring windows of a short run would overwrite each other.
        ok_ax.text((w.start + w.end) / 2 - t0, 1.01 + 0.08 * (i % 2), w.name,
                   transform=ok_ax.get_xaxis_transform(), ha="center", va="bottom",
                   fontsize=8)  # fmt: skip
    fig.suptitle("make soak: three services under locust, faults shaded", y=0.995)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(summary: dict) -> str:
    lines = [
        "# make soak",
        "",
        f"{summary['users']} locust users for {summary['elapsed_s']:g} s (planned "
        f"{summary['duration_s']:g}), pools of "
        f"{summary['pool_size']}; machine: {summary['machine']}.",
        "",
        "| phase | s | requests | req/s | statuses | p50 / p95 / p99 ms |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for p in summary["phases"]:
        statuses = ", ".join(f"{k}: {v}" for k, v in p["statuses"].items())
        lines.append(
            f"| {p['phase']} | {p['seconds']:g} | {p['requests']} | {p['rps']:g} | {statuses} "
            f"| {p['p50_ms']:g} / {p['p95_ms']:g} / {p['p99_ms']:g} |"
        )
    lines += ["", "| process | RSS MB warm -> end (peak) | fds max / end | max backends |"]
    lines.append("|---|---:|---:|---:|")
    for name, m in summary["memory"].items():
        backends = summary["max_backends"].get(name, "")
        if backends != "" and backends > summary["pool_size"]:
            backends = f"{backends} OVER POOL SIZE"
        lines.append(
            f"| {name} | {m['rss_warm_mb']:.1f} -> {m['rss_end_mb']:.1f} ({m['rss_peak_mb']:.1f}) "
            f"| {m['fds_max']} / {m['fds_end']} | {backends} |"
        )
    lines += ["", "| table | seeded | + created | - deleted | expected | actual |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for table, i in summary["integrity"].items():
        lines.append(
            f"| {table} | {i['seeded']} | {i['created']} | {i['deleted']} | {i['expected']} "
            f"| {i['actual']}{'' if i['exact'] else ' MISMATCH'} |"
        )
    lines += [
        "",
        f"5xx or no answer outside fault windows (+{RECOVERY:g} s): "
        f"{summary['failed_outside_windows']}.",
        "",
        f"Faults: {json.dumps(summary['faults'])}",
        "",
        f"Reporters (sent / dropped / unknown): {json.dumps(summary['reporters'])}",
        "",
        f"Command: `{summary['command']}`",
    ]
    return "\n".join(lines) + "\n"


def get_json(url: str) -> dict:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.load(answer)
    except OSError as error:
        return {"error": str(error)}


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
        stats = get_json(f"{fleet.urls[name]}/_tracing/stats").get("data") or {}
        counters = stats.get("reporter") or {}
        reporters[name] = {k: counters.get(k) for k in ("sent", "dropped", "unknown")}
    reporters["collector"] = get_json(f"{fleet.urls['collector']}/stats")
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
