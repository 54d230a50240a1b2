"""What the fuzzing tests share: a database of the module's own with the example rows in it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from examples.schema import create_example_rows
from grader.postgres import create_database, drop_database


@contextlib.contextmanager
def example_database(prefix: str) -> Iterator[str]:
    """A new database (its name starts with ``prefix``) with the example tables and rows; its DSN.
    Dropped on the way out: the fuzzers write rows other tests should not see."""

    async def make() -> str:
        dsn = await create_database(prefix)
        await create_example_rows(dsn)
        return dsn

    dsn = asyncio.run(make())
    try:
        yield dsn
    finally:
        asyncio.run(drop_database(dsn))
