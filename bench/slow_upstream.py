"""A slow downstream service for load tests: ``GET /slow?delay=0.05`` answers after that long."""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from aiohttp import web

MAX_DELAY = 10.0  # seconds; a typo in a query must not hold a connection for hours


async def slow(request: web.Request) -> web.Response:
    try:
        delay = float(request.query.get("delay", "0.05"))
    except ValueError:
        raise web.HTTPBadRequest(text="delay must be a number of seconds") from None
    if not 0 <= delay <= MAX_DELAY:
        raise web.HTTPBadRequest(text=f"delay must be between 0 and {MAX_DELAY} seconds")
    await asyncio.sleep(delay)
    return web.json_response({"slept": delay})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/slow", slow)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(create_app(), access_log=None)
    await runner.setup()
    # backlog: a load test opens many connections at once; the default 128 is enough for 50
    # users, the headroom is for larger runs.
    await web.TCPSite(runner, host, port, backlog=1024).start()
    try:
        await asyncio.Event().wait()  # until the process is terminated
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
