"""Services started as a user starts them, in a process: output collected, readiness, a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # `sanic` and `python`, as a shell with the venv has them
# Sanic 25.12's manager spins forever if a signal arrives before it has seen every worker's
# startup acknowledgement, which on a loaded machine comes a moment after the worker serves. A
# user never presses Ctrl-C that fast; a test waits this long after the last worker is up.
ACK_GRACE = 3.0


def environment(**overrides: str) -> dict[str, str]:
    """This environment with the venv first on PATH (as after ``source .venv/bin/activate``)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_URL")}
    env.pop("DATABASE_URL", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(overrides)
    return env


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def wait_for_port(port: int, within: float = 30.0) -> None:
    """Fail clearly when another program holds a port a documented command needs."""
    deadline = time.monotonic() + within
    while not port_is_free(port):
        if time.monotonic() > deadline:
            raise AssertionError(f"port {port} stays taken by another program; stop it first")
        await asyncio.sleep(0.5)


class Process:
    """One command running in its own session; ``lines`` holds (stream, line) as they come."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cwd: Path = REPO):
        self.argv, self.env, self.cwd = list(argv), env, cwd
        self.lines: list[tuple[str, str]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task] = []
        self._changed = asyncio.Condition()
        self._closed = 0

    def __repr__(self) -> str:
        return " ".join(self.argv)

    async def start(self) -> Process:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a signal for it alone; a leftover group can be killed
            limit=2**22,  # a JSON line with a traceback inside is long
        )
        self._readers = [
            asyncio.create_task(self._read("stdout", self.proc.stdout)),
            asyncio.create_task(self._read("stderr", self.proc.stderr)),
        ]
        return self

    async def _read(self, name: str, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            async with self._changed:
                self.lines.append((name, raw.decode(errors="replace").rstrip("\n")))
                self._changed.notify_all()
        async with self._changed:
            self._closed += 1  # both closed: the process (and its workers) ended
            self._changed.notify_all()

    def output(self) -> str:
        return "\n".join(f"{name}: {line}" for name, line in self.lines)

    def records(self) -> list[dict]:
        """Every output line as the JSON object it must be (the assertion names the first not)."""
        records = []
        for name, line in self.lines:
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            assert isinstance(record, dict), f"{self}: {name} line is not JSON: {line!r}"
            records.append(record)
        return records

    async def wait_serving(self, workers: int = 1, within: float = 120.0) -> None:
        """Until ``workers`` processes logged "serving on" (sanic_ms.create_app's line)."""

        def ready() -> bool:
            serving = sum("serving on" in line for _, line in self.lines)
            return serving >= workers or self._closed == 2

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(ready), within)
        except TimeoutError:
            raise AssertionError(f"{self} not serving after {within}s:\n{self.output()}") from None
        assert self._closed < 2, f"{self} ended instead of serving:\n{self.output()}"
        await asyncio.sleep(ACK_GRACE)
        assert self.proc.returncode is None, f"{self} exited:\n{self.output()}"

    async def wait(self, within: float = 120.0) -> int:
        """The exit status of a command that ends by itself (a one-shot job)."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"{self} still running after {within}s:\n{self.output()}"
            ) from None
        await asyncio.gather(*self._readers)
        return code

    async def stop(self, sig: int = signal.SIGINT, within: float = 30.0) -> int:
        """Send ``sig`` (Ctrl-C; ``docker stop`` sends SIGTERM); the exit status, once it ended."""
        self.proc.send_signal(sig)
        return await self.wait(within)

    async def leftovers(self, grace: float = 10.0) -> list[str]:
        """Processes of its group (a worker, a reloader) still running ``grace`` s after it ended."""
        deadline = time.monotonic() + grace
        while True:
            left = _group_members(self.proc.pid)
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.2)

    async def kill(self) -> None:
        """Whatever is left of the process group (a failed test must not leave servers)."""
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self.proc.wait()
        for reader in self._readers:
            reader.cancel()


def _group_members(group: int) -> list[str]:
    """Command lines of the live processes in process group ``group``."""
    return [
        (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        for proc in Path("/proc").iterdir()
        if proc.name.isdigit() and _group(proc) == group
    ]


def _group(proc: Path) -> int | None:
    """The process group of /proc/<pid>, or None once it is gone (or a zombie)."""
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] == "Z" else int(fields[2])
