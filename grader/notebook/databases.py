"""Scratch databases for a notebook: created on the resolved server, dropped at the end."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os

import asyncpg

from examples.schema import create_tables
from grader import postgres
from grader.notebook.kernel import own_settings

_databases: list[str] = []  # DSNs this kernel created, dropped by cleanup() or at exit
_exit_hook = False  # whether _drop_left_over is registered to run when the kernel exits


async def database(prefix: str, *, tables: bool = False, rows: bool = False) -> str:
    """A new empty database named ``<prefix>[tag]_<random>`` on the resolved server; its DSN.

    ``tables=True`` creates the example services' tables; ``rows=True`` also adds the demo's rows
    (cities Shanghai and Lisbon, roles admin and student, user 1 Ada in Lisbon, an admin).
    """
    global _exit_hook
    own_settings()
    if not _exit_hook:  # at the first database, not at import: importing is free
        atexit.register(_drop_left_over)
        _exit_hook = True
    # NOTEBOOK_DB_TAG (a test run sets one) marks this run's databases apart from any other
    # notebook's on the same server: nb01<tag>_<random>.
    dsn = await postgres.create_database(prefix + os.environ.get("NOTEBOOK_DB_TAG", ""))
    _databases.append(dsn)
    if tables or rows:
        conn = await asyncpg.connect(dsn)
        try:
            await create_tables(conn)
            if rows:
                await conn.executemany(
                    "INSERT INTO cities (name) VALUES ($1)", [("Shanghai",), ("Lisbon",)]
                )
                await conn.executemany(
                    "INSERT INTO roles (name) VALUES ($1)", [("admin",), ("student",)]
                )
                await conn.execute(
                    "INSERT INTO users (name, age, sex, city_id, role_id) "
                    "VALUES ('Ada', 36, 'f', 2, 1)"
                )
        finally:
            await conn.close()
    return dsn


async def drop_databases() -> None:
    while _databases:
        await postgres.drop_database(_databases.pop())


def _drop_left_over() -> None:
    # The kernel is exiting without cleanup() (a cell failed, the notebook was closed): its loop
    # is gone, so drop the databases from a fresh one.
    if _databases:
        with contextlib.suppress(Exception):
            asyncio.run(drop_databases())
