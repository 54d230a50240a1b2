"""Serve one Sanic app factory from a file path: one worker, loopback, no access log."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from sanic import Sanic


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
    args = parser.parse_args(argv)
    app = load_factory(args.app)()
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


if __name__ == "__main__":
    main()
