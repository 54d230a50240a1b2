"""How database exceptions become envelope errors: 503, 504, 409 or 400, never a 500.

No connection free in time, or the database unreachable, gone or refusing connections -> 503; a
statement past its time -> 504 (and cancelled on the server); a duplicate or a dangling reference
-> 409 naming the constraint; a missing or invalid value -> 400 naming the column.
"""

from __future__ import annotations

import contextlib
import re
from types import TracebackType

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from . import errors

# asyncpg raises InterfaceError both for a connection that is gone and for a misuse of its API
# (a wrong number of arguments, two queries at once); only the message tells them apart.
_GONE = ("connection is closed", "released back to the pool", "pool is clos")


def connection_lost(exc: BaseException | None) -> bool:
    """True when ``exc`` (or the database error our 503 was raised from) means the server is gone.

    A timed-out statement is not one: asyncpg cancels it on the server and the connection is reused.
    (On Python 3.11+ ``TimeoutError`` is an ``OSError``: test for it before ``OSError``.)
    """
    if isinstance(exc, errors.ServiceUnavailable):
        exc = exc.__cause__
    if exc is None or isinstance(exc, TimeoutError):
        return False
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        # 08: connection exception; 57P0x: shutdown, crash, starting up, database dropped, idle
        # timeout; 53300 too many connections; 3D000 the database does not exist (dropped).
        return state[:2] == "08" or state[:3] == "57P" or state in ("53300", "3D000")
    if isinstance(exc, asyncpg.InterfaceError):
        return any(words in str(exc) for words in _GONE)
    # A protocol left mid-operation by a dropped backend; a refused or reset socket.
    return isinstance(exc, (asyncpg.exceptions.InternalClientError, OSError))


def unavailable(exc: BaseException) -> errors.ServiceUnavailable:
    return errors.ServiceUnavailable(
        "Database unavailable", {"reason": f"{type(exc).__name__}: {exc}"}
    )


def discard(conn: asyncpg.Connection | PoolConnectionProxy) -> None:
    """Close a broken connection so no other request gets it (the pool opens a new one).

    If the server side is already gone, asyncpg has taken the connection back from us: closing
    it again would raise "connection has been released back to the pool" over the real error.
    """
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


def _check_column(exc: asyncpg.PostgresError) -> str | None:
    """The column a one-column CHECK protects: PostgreSQL names those ``<table>_<column>_check``."""
    found = re.fullmatch(
        rf"{re.escape(exc.table_name or '')}_(.+)_check\d*", exc.constraint_name or ""
    )
    return found and found.group(1)


def _violation(exc: asyncpg.IntegrityConstraintViolationError) -> errors.ServiceError:
    """A constraint violation: the client's value is wrong (400) or clashes with stored data (409)."""
    constraint, table = exc.constraint_name, exc.table_name
    if isinstance(exc, asyncpg.NotNullViolationError):
        column = exc.column_name
        return errors.BadRequest(
            f'Missing value: "{column}" may not be null', {"column": column, "table": table}
        )
    if isinstance(exc, asyncpg.CheckViolationError):
        column = _check_column(exc)
        return errors.BadRequest(
            f"Invalid value{f' for {column!r}' if column else ''}: "
            f'check constraint "{constraint}" failed',
            {"column": column, "table": table, "constraint": constraint},
        )
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        message = f'Refers to a row that does not exist, or is still referred to: "{constraint}"'
    else:  # unique, exclusion
        message = f'The change conflicts with existing data: "{constraint}"'
    return errors.Conflict(
        message, {"constraint": constraint, "table": table, "detail": exc.detail}
    )


def translate(exc: BaseException) -> BaseException:
    """The envelope error a database exception becomes (or the exception itself)."""
    if isinstance(exc, errors.ServiceError):
        return exc
    if connection_lost(exc):
        return unavailable(exc)
    if isinstance(exc, (TimeoutError, asyncpg.QueryCanceledError)):
        return errors.GatewayTimeout(
            "Database query timed out",
            {"hint": "raise DB_REQUEST_TIMEOUT or DB_COMMAND_TIMEOUT, or speed up the query"},
        )
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return _violation(exc)
    if isinstance(exc, (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError)):
        # The schema is behind the code (a fresh database, a migration not applied yet): the
        # service cannot answer until someone migrates, which is not the client's doing.
        return errors.ServiceUnavailable(
            f"The database is not ready: {exc}",
            {"hint": "apply the migrations: python -m sanic_ms migrate MODULE (make migrate)"},
        )
    if isinstance(exc, asyncpg.exceptions.DataError):
        return errors.BadRequest("Invalid value for the database", {"reason": str(exc)})
    return exc


class _Translated:
    """``with translated():`` as a plain class: entered once per statement, so it stays cheap."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Exception):
            error = translate(exc)
            if error is not exc:
                raise error from exc
        # None: no exception, or one that goes on as it is


_TRANSLATED = _Translated()


def translated() -> _Translated:
    """Database exceptions raised in the block come out as their envelope errors."""
    return _TRANSLATED
