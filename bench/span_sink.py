"""A Zipkin stand-in for benchmarks: accepts ``POST /api/v2/spans``, counts the spans, keeps none.

``sanic_ms.collector`` keeps every span and can print and validate them, which is right for tests
and the demo; at tens of thousands of spans a second it would compete for the CPU the measured app
needs. This sink does the least a collector must: read the body and answer 202.
``GET /count`` -> ``{"spans": N, "batches": M}``.
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from aiohttp import web

COUNT = web.AppKey("count", dict)


async def accept(request: web.Request) -> web.Response:
    body = await request.read()
    counts = request.app[COUNT]
    # Every v2 span has exactly one "traceId" key: counting it avoids parsing the JSON.
    counts["spans"] += body.count(b'"traceId"')
    counts["batches"] += 1
    return web.Response(status=202)


async def count(request: web.Request) -> web.Response:
    return web.json_response(request.app[COUNT])


def create_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[COUNT] = {"spans": 0, "batches": 0}
    app.router.add_post("/api/v2/spans", accept)
    app.router.add_get("/count", count)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(create_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9411)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
