"""Describe the machine and library versions a benchmark ran on, for its report."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from importlib import metadata

LIBRARIES = (
    "sanic",
    "uvloop",
    "asyncpg",
    "aiohttp",
    "psycopg",
    "locust",
    "opentracing",
    "basictracer",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def wrk_version() -> str | None:
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    # wrk -v prints its version and exits non-zero; only the first line matters.
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    return (
        (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "wrk"
    )


def describe() -> dict[str, str]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        # Other work on the machine slows a benchmark down; the reader should know there was some.
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        **versions(),
    }


def markdown(info: dict[str, str]) -> str:
    """One line a reader can compare against their own machine."""
    libs = ", ".join(f"{name} {info[name]}" for name in LIBRARIES if name in info)
    return (
        f"{info['date']}; {info['cores']} cores ({info['cpu']}); Python {info['python']} "
        f"on {info['os']}; {libs}; load average before the run {info['load']}"
    )
