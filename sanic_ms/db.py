"""The database: an asyncpg pool with ``acquire()`` for reads and ``transaction()`` for writes.

Queries are plain SQL with ``$1, $2`` parameters (never string formatting). Records come back as
dicts. Database trouble becomes an error in the envelope (503, 504, 409, 400: see
``sanic_ms.db_faults``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from . import errors, tracing
from .db_faults import connection_lost, discard, translated, unavailable
from .dsn import mask

log = logging.getLogger("sanic_ms.db")


class DatabaseUnavailable(RuntimeError):
    """Raised at startup when PostgreSQL cannot be reached."""


class Budget:
    """What is left of a request's database time: ``DB_REQUEST_TIMEOUT`` from its first borrow.

    Waiting for a connection and every statement draw on it, so a request stuck behind a lock
    answers once it is spent, not after ``DB_ACQUIRE_TIMEOUT`` plus ``DB_COMMAND_TIMEOUT``.
    """

    __slots__ = ("command_timeout", "deadline")

    def __init__(self, seconds: float, command_timeout: float):
        self.deadline = time.monotonic() + seconds
        self.command_timeout = command_timeout

    def left(self, cap: float) -> float:
        """Seconds the next wait or statement may take: at most ``cap``, and not past the end."""
        return max(0.0, min(cap, self.deadline - time.monotonic()))


async def keep_session(conn: asyncpg.Connection) -> None:
    """Reset nothing more when a connection goes back to the pool.

    asyncpg already rolls back a transaction left open. Its default reset also sends ``RESET ALL;
    UNLISTEN *; ...``: a second round trip per request that halves the queries per second of a
    small service. Our API keeps no session state (use ``SET LOCAL`` inside ``transaction()``).
    """


class Connection:
    """One pooled connection: ``fetch`` gives a list of dicts, ``fetchrow`` a dict or None."""

    __slots__ = ("_conn", "request")

    def __init__(self, conn: PoolConnectionProxy, request: Any = None):
        self._conn = conn
        self.request = request

    async def _run(self, method: str, query: str, args: Sequence[Any]) -> Any:
        budget = getattr(getattr(self.request, "ctx", None), "db_budget", None)
        # Past its timeout asyncpg cancels the statement on the server; None: DB_COMMAND_TIMEOUT.
        timeout = None if budget is None else budget.left(budget.command_timeout)
        with translated(), tracing.query_span(query, args):  # a CLIENT span, even on error
            return await getattr(self._conn, method)(query, *args, timeout=timeout)

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
        status: str = await self._run("execute", query, args)  # the command tag, "INSERT 0 1"
        return status

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        await self._run("executemany", query, (list(args),))

    @property
    def raw(self) -> PoolConnectionProxy:
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
        request_timeout: float = 10.0,
    ):
        self.dsn = dsn
        self.replica_dsn = replica_dsn
        self.min_size, self.max_size = min_size, max_size
        self.command_timeout = command_timeout
        self.acquire_timeout = acquire_timeout
        self.request_timeout = request_timeout
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
            request_timeout=config.DB_REQUEST_TIMEOUT,
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

    def budget(self, request: Any = None) -> Budget:
        """The request's database time (kept on ``request.ctx``); a fresh one without a request."""
        ctx = getattr(request, "ctx", None)
        budget = getattr(ctx, "db_budget", None)
        if budget is None:
            budget = Budget(self.request_timeout, self.command_timeout)
            if ctx is not None:
                ctx.db_budget = budget
        return budget

    @contextlib.asynccontextmanager
    async def _connection(
        self, readonly: bool, request: Any = None
    ) -> AsyncIterator[PoolConnectionProxy]:
        pool = self.replica if readonly and self.replica is not None else self.pool
        if pool is None:
            raise errors.ServiceUnavailable(
                "Database not connected", {"hint": "the app has not started"}
            )
        wait = self.budget(request).left(self.acquire_timeout)  # seconds to wait for a connection
        # BEGIN SOLUTION task 2: borrow a connection (503 if none is free in time), give it back
        try:
            conn = await pool.acquire(timeout=wait)
        except TimeoutError:
            raise errors.ServiceUnavailable(
                "Database busy: no connection free in time",
                {"pool_size": self.max_size, "waited_s": round(wait, 3)},
            ) from None
        except Exception as exc:  # a new connection failed: server down, database gone, too many
            raise unavailable(exc) from exc
        try:
            yield conn
        except BaseException as exc:
            if connection_lost(exc):
                discard(conn)  # never lend a broken connection to the next request
            raise
        finally:
            # Given back once, whatever the block did. asyncpg first waits for a cancelled
            # statement to stop on the server, so the next request gets a clean connection.
            try:
                await pool.release(conn, timeout=self.command_timeout)
            except Exception as exc:  # asyncpg closed it instead; the request's outcome stands
                log.warning("closed a connection that could not be reset: %r", exc)
        # END SOLUTION

    @contextlib.asynccontextmanager
    async def acquire(
        self, request: Any = None, *, readonly: bool = False
    ) -> AsyncIterator[Connection]:
        """A connection outside any transaction: for reads (each statement commits on its own)."""
        # BEGIN SOLUTION task 2: borrow a connection with self._connection and yield it wrapped
        async with self._connection(readonly, request) as conn:
            yield Connection(conn, request)
        # END SOLUTION

    @contextlib.asynccontextmanager
    async def transaction(self, request: Any = None) -> AsyncIterator[Connection]:
        """A connection in a transaction: committed if the block succeeds, rolled back if it raises.

        A failed COMMIT (a deferred constraint, a lost connection) is raised, never swallowed.
        """
        # BEGIN SOLUTION task 3: start a transaction, yield, commit on success, roll back on error
        async with self._connection(readonly=False, request=request) as conn:
            tx = conn.transaction()
            with translated():
                await tx.start()
            try:
                yield Connection(conn, request)
            except BaseException:
                with contextlib.suppress(Exception):
                    await tx.rollback()
                raise
            with translated():
                await tx.commit()
        # END SOLUTION
