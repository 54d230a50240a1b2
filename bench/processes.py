"""Start servers and load generators as child processes, wait until they answer, stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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


@contextlib.contextmanager
def running(
    args: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    ready_url: str | None = None,
    discard_stdout: bool = False,
) -> Iterator[subprocess.Popen]:
    """Run ``args`` (a server) for the duration of the block, output to ``log``.

    ``discard_stdout``: only stderr goes to ``log`` (for apps logging a JSON line per request,
    which would fill the disk during a benchmark).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL if discard_stdout else out,
            stderr=out if discard_stdout else subprocess.STDOUT,
        )
        try:
            if ready_url:
                try:
                    wait_http(ready_url, process=process)
                except (RuntimeError, TimeoutError) as error:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{error}\n--- {log} ---\n{tail}") from None
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # Sanic and aiohttp close their pools on SIGINT
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
