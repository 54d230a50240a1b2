"""Start servers and load generators as child processes, wait until they answer, stop them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # load tests never leave this machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Return once ``url`` answers (any status); fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=timeout):
                return
        except urllib.error.HTTPError:
            return  # it answered; the status is the caller's business
        except OSError as error:
            last_error = error
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s ({last_error})")


def get_json(url: str, timeout: float = 10.0) -> dict:
    """The JSON ``url`` answers, or ``{"error": ...}`` when it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.load(answer)
    except OSError as error:
        return {"error": str(error)}


def die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so a killed run leaves no server behind."""
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    """A server to run: its command, its log file, and the URL that answers once it is ready.

    ``discard_stdout``: only stderr goes to ``log`` (for apps logging a JSON line per request,
    which would fill the disk during a benchmark).
    """

    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_url: str | None = None
    discard_stdout: bool = False


@contextlib.contextmanager
def running_all(servers: list[Server]) -> Iterator[list[subprocess.Popen]]:
    """Run every server for the duration of the block: all start at once, all stop at once."""
    processes: list[subprocess.Popen] = []
    with contextlib.ExitStack() as files:
        try:
            for server in servers:
                server.log.parent.mkdir(parents=True, exist_ok=True)
                out = files.enter_context(server.log.open("wb"))
                processes.append(
                    subprocess.Popen(
                        server.args,
                        cwd=REPO_ROOT,
                        env={**os.environ, **server.env},
                        stdout=subprocess.DEVNULL if server.discard_stdout else out,
                        stderr=out if server.discard_stdout else subprocess.STDOUT,
                        preexec_fn=die_with_parent,
                    )
                )
            for server, process in zip(servers, processes, strict=True):
                if server.ready_url:
                    try:
                        wait_http(server.ready_url, process=process)
                    except (RuntimeError, TimeoutError) as error:
                        tail = server.log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"{error}\n--- {server.log} ---\n{tail}") from None
            yield processes
        finally:
            stop_all(processes)


@contextlib.contextmanager
def running(
    args: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    ready_url: str | None = None,
    discard_stdout: bool = False,
) -> Iterator[subprocess.Popen]:
    """Run one server (see :class:`Server`) for the duration of the block."""
    with running_all([Server(args, log, env or {}, ready_url, discard_stdout)]) as (process,):
        yield process


def stop_all(processes: list[subprocess.Popen], grace: float = 10.0) -> None:
    alive = [p for p in processes if p.poll() is None]
    for process in alive:
        process.send_signal(signal.SIGINT)  # Sanic and aiohttp close their pools on SIGINT
    deadline = time.monotonic() + grace
    for process in alive:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its descendants (workers) have used so far (Linux).

    NaN where ``/proc`` cannot tell.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the command name (which may hold spaces) start at the last ")".
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    total = (utime + stime) / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        child_seconds = cpu_seconds(child)
        if child_seconds == child_seconds:  # a child that exited meanwhile is NaN: skip it
            total += child_seconds
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux; NaN once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return float("nan")


def open_fds(pid: int) -> int:
    """How many file descriptors a process holds (Linux; -1 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
