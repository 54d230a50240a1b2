"""A connection pool seen from a notebook: sampled over time, closed within a bound, logs quiet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timeline:
    """Busy and idle connections of an asyncpg pool, sampled every few ms, and marked events."""

    began: float = field(default_factory=time.perf_counter)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (s, busy, idle)
    marks: list[tuple[float, str]] = field(default_factory=list)  # (s, what happened)

    def now(self) -> float:
        return time.perf_counter() - self.began

    def mark(self, what: str) -> None:
        self.marks.append((self.now(), what))


@contextlib.asynccontextmanager
async def pool_timeline(pool: Any, every: float = 0.005) -> AsyncIterator[Timeline]:
    """``async with nb.pool_timeline(pool) as timeline:`` samples the pool while the block runs."""
    timeline = Timeline()

    async def sample() -> None:
        while True:
            size, idle = pool.get_size(), pool.get_idle_size()
            timeline.samples.append((timeline.now(), size - idle, idle))
            await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield timeline
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def close_database(db: Any, within: float = 5.0) -> None:
    """Close a ``Database``; if a connection was never given back, terminate the pool and say so."""
    pool = db.pool
    try:
        await asyncio.wait_for(db.close(), within)
    except TimeoutError:
        if pool is not None:
            pool.terminate()
        raise AssertionError(
            f"a connection was never given back to the pool: close() waited {within:.0f} s for it"
        ) from None


@contextlib.contextmanager
def quiet(*loggers: str) -> Iterator[None]:
    """Silence these loggers inside the block (a probe's expected errors), restoring them after."""
    found = [logging.getLogger(name) for name in loggers]
    before = [logger.disabled for logger in found]
    for logger in found:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(found, before, strict=True):
            logger.disabled = was
