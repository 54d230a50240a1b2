"""The database: an asyncpg pool with ``acquire()`` for reads and ``transaction()`` for writes.

Queries are plain SQL with ``$1, $2`` parameters (never string formatting). Records come back as
dicts. Database trouble becomes an error in the envelope: pool exhausted or database down -> 503,
statement timeout -> 504, constraint violations -> 409, invalid values -> 400.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

from . import errors, tracing
from .postgres import mask


class DatabaseUnavailable(RuntimeError):
    """Raised at startup when PostgreSQL cannot be reached."""


class Conflict(errors.ServiceError):
    status_code, message = 409, "Conflict"


_LOST_CONNECTION = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # protocol left mid-operation by a dropped backend
    ConnectionError,
    OSError,
)


def translate(exc: BaseException) -> BaseException:
    """The envelope error a database exception becomes (or the exception itself)."""
    if isinstance(exc, errors.ServiceError):
        return exc
    if isinstance(exc, TimeoutError):
        return errors.GatewayTimeout(
            "Database query timed out", {"hint": "raise DB_COMMAND_TIMEOUT or speed up the query"}
        )
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        return Conflict(
            "The change conflicts with existing data",
            {
                "constraint": getattr(exc, "constraint_name", None),
                "detail": getattr(exc, "detail", None),
            },
        )
    if isinstance(exc, asyncpg.exceptions.DataError):
        return errors.BadRequest("Invalid value for the database", {"reason": str(exc)})
    if isinstance(exc, _LOST_CONNECTION):
        return errors.ServiceUnavailable(
            "Database unavailable", {"reason": f"{type(exc).__name__}: {exc}"}
        )
    return exc


async def keep_session(conn: asyncpg.Connection) -> None:
    """Reset nothing more when a connection goes back to the pool.

    asyncpg already rolls back a transaction left open. Its default reset also sends ``RESET ALL;
    UNLISTEN *; ...``: a second round trip per request that halves the queries per second of a
    small service. Our API keeps no session state (use ``SET LOCAL`` inside ``transaction()``).
    """


class Connection:
    """One pooled connection: ``fetch`` gives a list of dicts, ``fetchrow`` a dict or None."""

    __slots__ = ("_conn", "request")

    def __init__(self, conn: asyncpg.Connection, request: Any = None):
        self._conn = conn
        self.request = request

    async def _run(self, method: str, query: str, args: Sequence[Any]) -> Any:
        try:
            with tracing.query_span(query, args):  # a CLIENT span, finished even on error
                return await getattr(self._conn, method)(query, *args)
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        # BEGIN SOLUTION task 1: run the query with self._run and return the rows as a list of dicts
        return [dict(record) for record in await self._run("fetch", query, args)]
        # END SOLUTION

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        # BEGIN SOLUTION task 1: run the query with self._run and return one dict, or None
        record = await self._run("fetchrow", query, args)
        return None if record is None else dict(record)
        # END SOLUTION

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run("fetchval", query, args)

    async def execute(self, query: str, *args: Any) -> str:
        return await self._run("execute", query, args)

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        return await self._run("executemany", query, (list(args),))

    @property
    def raw(self) -> asyncpg.Connection:
        """The asyncpg connection, for what this wrapper does not cover (COPY, LISTEN)."""
        return self._conn


class Database:
    """A primary pool and, when configured, a read replica pool."""

    def __init__(
        self,
        dsn: str,
        *,
        replica_dsn: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 10.0,
        acquire_timeout: float = 5.0,
    ):
        self.dsn = dsn
        self.replica_dsn = replica_dsn
        self.min_size, self.max_size = min_size, max_size
        self.command_timeout = command_timeout
        self.acquire_timeout = acquire_timeout
        self.pool: asyncpg.Pool | None = None
        self.replica: asyncpg.Pool | None = None

    @classmethod
    def from_config(cls, config: Any, dsn: str) -> Database:
        return cls(
            dsn,
            replica_dsn=config.DB_REPLICA_URL,
            min_size=config.DB_MIN_SIZE,
            max_size=config.DB_MAX_SIZE,
            command_timeout=config.DB_COMMAND_TIMEOUT,
            acquire_timeout=config.DB_ACQUIRE_TIMEOUT,
        )

    async def _create_pool(self, dsn: str) -> asyncpg.Pool:
        try:
            return await asyncpg.create_pool(
                dsn,
                min_size=self.min_size,
                max_size=self.max_size,
                command_timeout=self.command_timeout,
                timeout=self.acquire_timeout,
                reset=keep_session,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {mask(dsn)}: {type(exc).__name__}: {exc}. "
                "Is the server running? Set DATABASE_URL to point at one."
            ) from exc

    async def connect(self) -> Database:
        self.pool = await self._create_pool(self.dsn)
        if self.replica_dsn:
            try:
                self.replica = await self._create_pool(self.replica_dsn)
            except DatabaseUnavailable:
                await self.pool.close()
                raise
        return self

    async def close(self) -> None:
        for pool in (self.replica, self.pool):
            if pool is not None:
                await pool.close()
        self.pool = self.replica = None

    @contextlib.asynccontextmanager
    async def _connection(self, readonly: bool) -> AsyncIterator[asyncpg.Connection]:
        pool = self.replica if readonly and self.replica is not None else self.pool
        if pool is None:
            raise errors.ServiceUnavailable(
                "Database not connected", {"hint": "the app has not started"}
            )
        # BEGIN SOLUTION task 2: borrow a connection (503 if none is free in time), give it back
        try:
            conn = await pool.acquire(timeout=self.acquire_timeout)
        except TimeoutError:
            raise errors.ServiceUnavailable(
                "Database busy: no connection free in time",
                {"pool_size": self.max_size, "waited_s": self.acquire_timeout},
            ) from None
        except _LOST_CONNECTION as exc:
            raise translate(exc) from exc
        try:
            yield conn
        except BaseException as exc:
            if isinstance(exc, _LOST_CONNECTION) or isinstance(exc.__cause__, _LOST_CONNECTION):
                # Never hand a broken connection to the next request: the pool opens a new one.
                conn.terminate()
            raise
        finally:
            await pool.release(conn)
        # END SOLUTION

    @contextlib.asynccontextmanager
    async def acquire(
        self, request: Any = None, *, readonly: bool = False
    ) -> AsyncIterator[Connection]:
        """A connection outside any transaction: for reads (each statement commits on its own)."""
        # BEGIN SOLUTION task 2: borrow a connection with self._connection and yield it wrapped
        async with self._connection(readonly) as conn:
            yield Connection(conn, request)
        # END SOLUTION

    @contextlib.asynccontextmanager
    async def transaction(self, request: Any = None) -> AsyncIterator[Connection]:
        """A connection in a transaction: committed if the block succeeds, rolled back if it raises.

        A failed COMMIT (a deferred constraint, a lost connection) is raised, never swallowed.
        """
        # BEGIN SOLUTION task 3: start a transaction, yield, commit on success, roll back on error
        async with self._connection(readonly=False) as conn:
            tx = conn.transaction()
            try:
                await tx.start()
            except Exception as exc:
                raise translate(exc) from exc
            try:
                yield Connection(conn, request)
            except BaseException:
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise
            try:
                await tx.commit()
            except Exception as exc:
                translated = translate(exc)
                if translated is exc:
                    raise
                raise translated from exc
        # END SOLUTION
