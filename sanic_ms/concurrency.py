"""Await several downstream calls at once and put each result where it belongs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, MutableMapping
from typing import Any


async def async_request(
    calls: Iterable[tuple[MutableMapping[str, Any], str, Awaitable[Any]]],
) -> None:
    """Run ``[(target, key, awaitable), ...]`` concurrently and store each result at ``target[key]``.

    Every call runs to completion; if any failed, nothing is stored and the first failure (in the
    order given) is raised, with the others attached as notes so none is silently dropped.
    """
    calls = list(calls)
    results = await asyncio.gather(
        *(awaitable for _, _, awaitable in calls), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        first = failures[0]
        for other in failures[1:]:
            first.add_note(f"also failed: {type(other).__name__}: {other}")
        raise first
    for (target, key, _), result in zip(calls, results, strict=True):
        target[key] = result
