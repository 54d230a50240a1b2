"""Lab 00: the async handlers of labs/00/blocking_vs_async.py wait without blocking the loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web

from bench import slow_upstream

DELAY = 0.3  # seconds of simulated I/O per request: long enough that blocking cannot hide


@pytest.fixture(scope="module")
def upstream():
    """The slow upstream service, in a thread of its own (its own event loop)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    async def start():
        runner = web.AppRunner(slow_upstream.create_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["runner"] = runner
        box["url"] = "http://127.0.0.1:%d" % runner.addresses[0][1]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.daemon = True
    thread.start()
    started.wait(10)
    yield box["url"]
    asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
async def served(student, database_url, upstream, serve):
    module = student.load("blocking_vs_async.py")
    app = module.create_app(delay=DELAY, dsn=database_url, upstream=upstream, pool_size=4)
    async with serve(app) as served:
        yield served


async def answers_while_waiting(served, path):
    """Start ``path``; while it waits, ask ``/``. Which finished first?"""
    slow = asyncio.create_task(served.get(path))
    await asyncio.sleep(DELAY / 6)  # the slow request is now inside its handler
    quick = await served.get("/")
    overtaken = not slow.done()
    return await slow, quick, overtaken


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
async def test_async_sleep_answers_like_the_blocking_one(served):
    started = time.monotonic()
    reply = await served.get("/async/sleep")
    took = time.monotonic() - started
    assert reply.status == 200 and reply.body == {
        "pair": "sleep",
        "style": "async",
        "waited": DELAY,
    }, f'GET /async/sleep should answer {{"pair": "sleep", "style": "async", "waited": {DELAY}}}; got {reply}'
    assert took >= DELAY * 0.9, (
        f"GET /async/sleep answered after {took:.3f} s, but it should wait the delay "
        f"({DELAY} s; the delay is in seconds, as asyncio.sleep takes it, and the sleep must be "
        "awaited)"
    )


@pytest.mark.task(1)
async def test_other_requests_are_served_while_async_sleep_waits(served):
    slow, quick, overtaken = await answers_while_waiting(served, "/async/sleep")
    assert slow.status == 200 and quick.status == 200, f"both should succeed: {slow}, {quick}"
    assert overtaken, (
        "GET / was sent while GET /async/sleep was waiting, yet it was answered only after it: "
        "the handler held the event loop. Wait with `await asyncio.sleep(...)`."
    )


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
async def test_async_db_runs_the_query_on_the_pool(served):
    reply = await served.get("/async/db")
    assert reply.status == 200, f"GET /async/db should answer 200; got {reply}"
    body = reply.body
    assert {k: body.get(k) for k in ("pair", "style", "waited")} == {
        "pair": "db",
        "style": "async",
        "waited": DELAY,
    }, f'GET /async/db should answer {{"pair": "db", "style": "async", "waited": {DELAY}, ...}}; got {reply}'
    assert isinstance(body.get("backend"), int), (
        f'"backend" should be the PostgreSQL backend pid that ran pg_sleep (an int); got {reply}'
    )


@pytest.mark.task(2)
async def test_other_requests_are_served_while_async_db_waits(served):
    slow, quick, overtaken = await answers_while_waiting(served, "/async/db")
    assert slow.status == 200 and quick.status == 200, f"both should succeed: {slow}, {quick}"
    assert overtaken, (
        "GET / was sent while GET /async/db waited for PostgreSQL, yet it was answered only "
        "after it: use the asyncpg pool (`await request.app.ctx.pool.fetchval(...)`)."
    )


# ---------------------------------------------------------------------------------------- task 3


@pytest.mark.task(3)
async def test_async_http_calls_the_upstream(served):
    reply = await served.get("/async/http")
    assert reply.status == 200 and reply.body == {
        "pair": "http",
        "style": "async",
        "waited": DELAY,
        "upstream": {"slept": DELAY},
    }, (
        "GET /async/http should answer "
        f'{{"pair": "http", "style": "async", "waited": {DELAY}, "upstream": {{"slept": {DELAY}}}}}'
        f"; got {reply}"
    )


@pytest.mark.task(3)
async def test_other_requests_are_served_while_async_http_waits(served):
    slow, quick, overtaken = await answers_while_waiting(served, "/async/http")
    assert slow.status == 200 and quick.status == 200, f"both should succeed: {slow}, {quick}"
    assert overtaken, (
        "GET / was sent while GET /async/http waited for the upstream, yet it was answered only "
        "after it: use the aiohttp session (`async with request.app.ctx.http.get(url) as r`)."
    )
