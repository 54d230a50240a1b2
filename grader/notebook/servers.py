"""Apps served from a notebook cell: in the kernel's own loop, or an aiohttp app in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

from aiohttp import web
from sanic import Sanic

from grader.notebook.kernel import setup
from sanic_ms.serve import serve

# The kernel's loop keeps running between cells, so a server started in one cell answers in the next.
servers: dict[
    str, tuple[contextlib.AsyncExitStack, Sanic[Any, Any]]
] = {}  # name -> (what stops it, app)
_threads: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []  # start_in_thread servers


async def start(app: Sanic[Any, Any], port: int = 0) -> str:
    """Serve ``app`` on a loopback port in this kernel's loop until :func:`stop`; its URL.

    An earlier app of the same name is stopped first, so a cell can be run again.
    """
    setup()
    await stop(app.name)
    app.config.MOTD = False  # no startup banner in the notebook
    stack = contextlib.AsyncExitStack()
    url = await stack.enter_async_context(serve(app, port=port))
    servers[app.name] = (stack, app)
    return url


async def stop(name: str | Sanic[Any, Any] | None = None, within: float = 10.0) -> None:
    """Stop one app started by :func:`start` (by name or app), or every one (newest first).

    Bounded: an app whose pool waits for a connection that was never given back is stopped after
    ``within`` seconds, its pool terminated, and a line says so.
    """
    if isinstance(name, Sanic):
        name = name.name
    names = [name] if name is not None else list(reversed(servers))
    for one in names:
        entry = servers.pop(one, None)
        if entry is None:
            continue
        stack, app = entry
        try:
            await asyncio.wait_for(stack.aclose(), within)
        except TimeoutError:
            db = getattr(app.ctx, "db", None)
            for pool in (getattr(db, "pool", None), getattr(db, "replica", None)):
                if pool is not None:
                    pool.terminate()
            print(
                f"app {one!r} did not stop within {within:.0f} s: its pool waited for a connection "
                "that was never given back; the pool was terminated"
            )


def start_in_thread(app: Any) -> str:
    """Serve an aiohttp ``app`` from a thread with its own event loop; returns its URL.

    For a downstream that must keep answering while this kernel's loop is blocked on purpose
    (lab 00's blocking handlers call it). :func:`cleanup` stops it.
    """
    ready: Future[str] = Future()
    loop = asyncio.new_event_loop()

    async def run() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        stopping = asyncio.Event()
        _threads.append((loop, stopping))
        ready.set_result(f"http://127.0.0.1:{port}")
        await stopping.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    return ready.result(timeout=10)


def stop_threads() -> None:
    while _threads:
        loop, stopping = _threads.pop()
        loop.call_soon_threadsafe(stopping.set)


async def examples(dsn: str, **settings: Any) -> dict[str, str]:
    """The users, cities and roles services on loopback ports; returns name -> base URL.

    ``settings`` go to all three (``ZIPKIN_URL=...``, ``LOG_LEVEL=...``).
    """
    # Imported when first called, as a notebook would: after `student_code` plugged the student's
    # modules in, the services bind to them at import.
    from examples.cities.server import create_app as create_cities
    from examples.roles.server import create_app as create_roles
    from examples.users.server import create_app as create_users

    base = {"DATABASE_URL": dsn, "DB_MIN_SIZE": 1, "LOG_LEVEL": "WARNING", **settings}
    urls = {
        "cities": await start(create_cities(base)),
        "roles": await start(create_roles(base)),
    }
    urls["users"] = await start(
        create_users({**base, "SERVICES": {"cities": urls["cities"], "roles": urls["roles"]}})
    )
    return urls
