"""Serve one app factory from a file path: one worker, loopback, no access log.

A factory returning a Sanic app runs on Sanic's own server (``--workers N`` for several worker
processes); any other (an ASGI app: the peers in ``bench/peer_apps.py``) runs on uvicorn with
uvloop and httptools, the fastest setup uvicorn has.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from sanic import Sanic
from sanic.worker.loader import AppLoader


def load_factory(spec: str) -> Callable[[], Sanic]:
    """``path/to/file.py:factory`` or ``package.module:factory`` (factory defaults to
    ``create_app``) -> the factory function.

    Loading by path, not by module name, lets a student's ``labs/00/blocking_vs_async.py`` stand
    in for ``bench/blocking_vs_async.py`` without being importable as a package.
    """
    path_text, _, attribute = spec.partition(":")
    if not path_text.endswith(".py") and "/" not in path_text:
        # A module name, such as examples.users.server: imported, so its relative imports work.
        factory = getattr(importlib.import_module(path_text), attribute or "create_app", None)
        if not callable(factory):
            raise SystemExit(f"{path_text} has no function {attribute or 'create_app'}()")
        return factory
    path = Path(path_text)
    if path.is_dir():
        raise SystemExit(f"{path} is a folder: name the file, e.g. {path}/blocking_vs_async.py")
    if not path.is_file():
        raise SystemExit(f"no such app file: {path}")
    module_name = f"_served_{path.stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    assert module_spec and module_spec.loader
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    factory = getattr(module, attribute or "create_app", None)
    if not callable(factory):
        raise SystemExit(f"{path} has no function {attribute or 'create_app'}()")
    return factory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", help="path/to/file.py[:factory] or package.module[:factory]")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="Sanic worker processes")
    args = parser.parse_args(argv)
    factory = load_factory(args.app)
    app = factory()
    if not isinstance(app, Sanic):
        serve_asgi(app, args.host, args.port)
        return
    if args.workers > 1:
        # Sanic's manager process spawns the workers; each imports the factory by module name
        # and builds its own app.
        loader = AppLoader(module_input=module_name(args.app), as_factory=True)
        app.prepare(
            host=args.host, port=args.port, workers=args.workers, access_log=False, motd=False,
            debug=False, backlog=1024,
        )  # fmt: skip
        Sanic.serve(primary=app, app_loader=loader)
        return
    # single_process: exactly one worker and no reloader/manager process in between, so the
    # numbers measure one event loop.
    app.run(
        host=args.host,
        port=args.port,
        single_process=True,
        access_log=False,
        motd=False,
        debug=False,
        backlog=1024,
    )


def module_name(spec: str) -> str:
    """``bench/overhead_apps.py:traced`` -> ``bench.overhead_apps:traced`` (for spawned workers)."""
    path_text, _, attribute = spec.partition(":")
    if not path_text.endswith(".py") and "/" not in path_text:
        return f"{path_text}:{attribute or 'create_app'}"  # a module name already
    path = Path(path_text).resolve().with_suffix("")
    parts = path.relative_to(Path(__file__).resolve().parent.parent).parts
    return ".".join(parts) + ":" + (attribute or "create_app")


def serve_asgi(app: object, host: str, port: int) -> None:
    import uvicorn  # the bench extra; only the peers need it

    uvicorn.run(
        app, host=host, port=port, loop="uvloop", http="httptools", workers=1,
        access_log=False, log_level="warning", backlog=1024, lifespan="on",
    )  # fmt: skip


if __name__ == "__main__":
    main()
