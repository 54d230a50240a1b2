"""async_request: downstream calls run at the same time, results land at their keys."""

from __future__ import annotations

import asyncio

import pytest

from sanic_ms import async_request


async def test_calls_run_concurrently_and_results_land_at_their_keys():
    both_started = asyncio.Barrier(2)

    async def fetch(value):
        # Passes only if the other call is running at the same time; run one after the
        # other, the first would wait here for ever (the timeout below turns that into a failure).
        await both_started.wait()
        return value

    user = {"city_id": 1, "role_id": 2}
    await asyncio.wait_for(
        async_request([(user, "city", fetch({"id": 1})), (user, "role", fetch({"id": 2}))]),
        timeout=5,
    )
    assert user["city"] == {"id": 1} and user["role"] == {"id": 2}


async def test_a_failure_is_raised_and_nothing_is_stored():
    finished = []

    async def ok():
        await asyncio.sleep(0.01)
        finished.append("ok")
        return 1

    async def broken(message):
        raise LookupError(message)

    target = {}
    with pytest.raises(LookupError, match="first") as caught:
        await async_request(
            [(target, "a", ok()), (target, "b", broken("first")), (target, "c", broken("second"))]
        )
    assert target == {}
    assert finished == ["ok"]  # the others still ran to completion: no dangling task
    assert any("second" in note for note in caught.value.__notes__)
