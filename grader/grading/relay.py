"""A unix-socket relay to a database socket the grader's accounts may not open themselves.

The embedded PostgreSQL (no server on this machine) keeps its socket inside its data folder, which
PostgreSQL requires to be private to the server's own account. Confined runs, each under an
unprivileged account and in a network namespace, reach the database only through a socket file:
so the grader, as root, serves one in a folder they can open and copies bytes both ways.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def private_socket(dsn: str) -> Path | None:
    """The socket file named by ``?host=/folder`` in ``dsn``, when it is one, else None."""
    parts = urlsplit(dsn)
    hosts = parse_qs(parts.query).get("host", [])
    if not hosts or not hosts[0].startswith("/"):
        return None
    path = Path(hosts[0]) / f".s.PGSQL.{parts.port or 5432}"
    return path if path.is_socket() else None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def start(target: Path) -> str:
    """Serve a relay to ``target`` from a new world-reachable folder; return that folder.

    The relay runs on a daemon thread for the rest of the grader's process.
    """
    folder = tempfile.mkdtemp(prefix="sanicms-grader-db-")
    os.chmod(folder, 0o755)
    path = Path(folder) / target.name
    ready = threading.Event()

    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(str(target))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def serve():
        server = await asyncio.start_unix_server(handle, path=str(path))
        os.chmod(path, 0o777)  # the runs' accounts connect; the server still checks its roles
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=asyncio.run, args=(serve(),), name="db-relay", daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError(f"could not start a database relay in {folder}")
    return folder
