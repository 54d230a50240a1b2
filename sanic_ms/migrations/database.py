"""The peewee database migrations run on: from a DSN, or the module-level ``db`` of the seed."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.postgres_ext import Psycopg3Database

from sanic_ms import settings
from sanic_ms.dsn import database_url


def dsn_from_settings() -> str:
    """``DATABASE_URL`` as apps read it (the environment over the defaults), or a clear error."""
    return database_url(
        "migrations",
        "or pass the DSN: python -m sanic_ms migrate --dsn URL",
        environ=settings.load(),
    )


def connect(dsn: str | None = None) -> peewee.PostgresqlDatabase:
    """A peewee ``Psycopg3Database`` for ``dsn`` (default: ``DATABASE_URL``, else an error)."""
    if dsn is None:
        dsn = dsn_from_settings()
    # peewee hands the string to psycopg as a conninfo only when it starts with postgresql://.
    if dsn.startswith("postgres://"):
        dsn = "postgresql://" + dsn[len("postgres://") :]
    database: peewee.PostgresqlDatabase = Psycopg3Database(dsn)  # playhouse is untyped
    return database


class DefaultDatabase(peewee.DatabaseProxy):
    """The seed's module-level ``db``: connects to ``DATABASE_URL`` on first use."""

    def _ensure(self) -> None:
        if self.obj is None:
            self.initialize(connect())

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "_Model":  # probes (copy, hasattr) must not connect
            raise AttributeError(attr)
        self._ensure()
        return getattr(self.obj, attr)

    def __enter__(self) -> Any:
        self._ensure()
        return self.obj.__enter__()


db = DefaultDatabase()


def unwrap(database: peewee.Database | peewee.DatabaseProxy | None = None) -> peewee.Database:
    """The PostgreSQL database behind ``database`` (a database, a proxy, or None for ``db``)."""
    database = db if database is None else database
    if isinstance(database, DefaultDatabase):
        database._ensure()
    if isinstance(database, peewee.Proxy):
        if database.obj is None:
            raise ValueError("the database proxy is not initialized")
        database = database.obj
    if not isinstance(database, peewee.PostgresqlDatabase):
        raise TypeError(f"migrations need PostgreSQL, not {type(database).__name__}")
    return database
