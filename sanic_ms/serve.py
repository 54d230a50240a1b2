"""Run an app inside the current event loop on a loopback port: for tests, notebooks and the demo."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from sanic import Sanic
from sanic.config import Config


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for servers that must know theirs in advance)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serve(
    app: Sanic[Config, SimpleNamespace], host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``app`` for the duration of the block; yields its base URL (``http://host:port``).

    The app's listeners run as under ``sanic serve``: ``before_server_start`` (pool, clients) on
    entry, ``after_server_stop`` (closing them) on exit.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    # TouchUp rewrites Sanic's own classes once per process; with several apps in one process
    # (the demo, a test) the second rewrite fails, and the speed-up does not matter here.
    app.config.TOUCHUP = False
    # Any: Sanic's AsyncioServer leaves its lifecycle methods (startup, before_start...) unannotated.
    server: Any = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    if server is None:  # Sanic returns None only when return_asyncio_server is False
        raise RuntimeError(f"{app.name}: Sanic did not return its server")
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await server.before_stop()
        for connection in list(server.connections):
            connection.close_if_idle()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        sock.close()
