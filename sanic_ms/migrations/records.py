"""The ``migrate_record`` table (which versions ran) and the advisory lock runners share."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import peewee

from .catalog import execute, table_exists

RECORD_TABLE = "migrate_record"
# One advisory lock key for every runner on a database ("sanic_ms" in ASCII). Advisory locks are
# scoped to the database, so runners on other databases never wait for each other.
LOCK_KEY = 0x73616E69635F6D73


class Authored(Protocol):
    """What a record needs from a migration's ``@info`` (``model.Info``)."""

    @property
    def version(self) -> str: ...
    @property
    def author(self) -> str | None: ...
    @property
    def datetime(self) -> dt.datetime | None: ...


@dataclasses.dataclass(frozen=True)
class Record:
    """One row of ``migrate_record``."""

    version: str
    author: str | None
    authored_at: dt.datetime | None
    applied_at: dt.datetime


def ensure_record_table(database: peewee.Database) -> None:
    execute(
        database,
        f"""CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (
            id serial PRIMARY KEY,
            table_name varchar(255) NOT NULL,
            version varchar(64) NOT NULL,
            author varchar(255),
            authored_at timestamp,
            applied_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (table_name, version)
        )""",
    )


def read_records(database: peewee.Database, table: str) -> list[Record]:
    """The versions recorded for ``table``, in the order they were applied."""
    if not table_exists(database, RECORD_TABLE):
        return []
    cursor = execute(
        database,
        f"SELECT version, author, authored_at, applied_at FROM {RECORD_TABLE}"
        " WHERE table_name = %s ORDER BY id",
        (table,),
    )
    return [Record(*row) for row in cursor.fetchall()]


def insert_record(database: peewee.Database, table: str, meta: Authored) -> None:
    execute(
        database,
        f"INSERT INTO {RECORD_TABLE} (table_name, version, author, authored_at)"
        " VALUES (%s, %s, %s, %s)",
        (table, meta.version, meta.author, meta.datetime),
    )


def move_records(database: peewee.Database, old: str, new: str) -> None:
    """Records follow a renamed table; where both names hold a version, the old row is kept."""
    if not table_exists(database, RECORD_TABLE):
        return
    execute(
        database,
        f"DELETE FROM {RECORD_TABLE} n WHERE n.table_name = %s AND EXISTS"
        f" (SELECT 1 FROM {RECORD_TABLE} o WHERE o.table_name = %s AND o.version = n.version)",
        (new, old),
    )
    execute(
        database, f"UPDATE {RECORD_TABLE} SET table_name = %s WHERE table_name = %s", (new, old)
    )


@contextmanager
def migration_lock(database: peewee.Database) -> Iterator[bool]:
    """Hold the session advisory lock; yields whether another runner made us wait."""
    got = execute(database, "SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
    if not got:
        print("waiting for another migration runner to finish...", file=sys.stderr)
        execute(database, "SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        yield not got
    finally:
        execute(database, "SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
