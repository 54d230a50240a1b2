"""What ``make bench`` measures, and with what: the apps, their endpoints, wrk or locust.

One ``Measure`` per load-generator run against one URL. wrk when installed (one thread: the other
core belongs to the app under test), else locust ``FastHttpUser`` with ``make load``'s settings.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import machine
from bench.processes import REPO_ROOT, die_with_parent, python

APPS = (
    "bare", "envelope", "framework", "traced", "collector_down", "traced_2w",
    "fastapi_bare", "fastapi_otel", "litestar_bare",
)  # fmt: skip
ENDPOINTS = {"hello": "/hello", "row": "/row/1"}


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
