"""The fleet of ``make soak``: the collector and the three services, the faults, the sampler.

Each process restarts on its own port after a fault kills it; the sampler records RSS, open file
descriptors and each pool's backends every second.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

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

SERVICES = ("cities", "roles", "users")  # start order: users calls the other two
PROCESSES = ("collector", *SERVICES)
FAULTS = ("collector down", "downstream down", "backends terminated", "table locked")
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
            return python("-m", "sanic_ms.tracing.collector", "--port", port)
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
