"""The app under test: built from what a test names, and where its service's tables come from."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import sys
from typing import Any

import peewee
from sanic import Sanic

from .. import migrations


def allow_same_name_apps() -> None:
    """Let one process build several apps of the same name (Sanic refuses outside test mode).

    A test session builds the same service once per test (``users``, ``cities``, ...), and a
    notebook rebuilds it on every run of a cell.
    """
    Sanic.test_mode = True


def load_app(target: Any, settings: dict[str, Any]) -> Sanic[Any, Any]:
    """An app from ``target``: an app, a factory taking a settings dict, or "module:attribute"."""
    if isinstance(target, str):
        module, _, attribute = target.partition(":")
        if not attribute:
            raise ValueError(f"sanic_app {target!r}: write it as 'package.module:create_app'")
        target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, Sanic):
        target.config.update(settings)
        return target
    if callable(target):
        takes_settings = bool(inspect.signature(target).parameters)
        app = target(settings) if takes_settings else target()
        if not isinstance(app, Sanic):
            raise TypeError(f"{target!r} returned {type(app).__name__}, not a Sanic app")
        if not takes_settings:
            app.config.update(settings)
        return app
    raise TypeError(f"cannot build an app from {target!r}")


def _service_modules(target: Any) -> list[str]:
    """Modules an app target comes from: its "module:attr", its factory's, or for an app the
    modules holding it (``from server import app``) and those of its handlers."""
    if isinstance(target, str):
        return [target.partition(":")[0]]
    if not isinstance(target, Sanic):
        return [target.__module__] if getattr(target, "__module__", None) else []
    ours = ("sanic", "sanic_ms", "builtins")
    holders = [
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] not in ours
        and any(value is target for value in list(getattr(module, "__dict__", {}).values()))
    ]
    handlers = [getattr(route.handler, "__module__", None) for route in target.router.routes]
    found = [*holders, *(m for m in handlers if m and m.split(".")[0] not in ours)]
    return list(dict.fromkeys(found))


def _sibling(package: str, name: str) -> str | None:
    """``package.name`` if it exists (a top-level ``name`` beside a top-level module)."""
    full = f"{package}.{name}" if package else name
    try:
        return full if importlib.util.find_spec(full) is not None else None
    except (ImportError, ValueError):
        return None


def service_tables(target: Any) -> list[Any]:
    """Where the tables of the service ``target`` comes from: migration classes, or models.

    Beside the module the app comes from (then its parent packages): a ``migrations`` module
    gives its migration classes (``examples.users.migrations`` for
    ``examples.users.server:create_app``); failing that, a ``models`` module gives its peewee
    models. Nothing found: an empty list.
    """
    for module in _service_modules(target):
        package = module.rpartition(".")[0]
        while True:
            if found := _sibling(package, "migrations"):
                with contextlib.suppress(ValueError):  # a migrations module of another kind
                    return migrations.discover(found)
            if found := _sibling(package, "models"):
                models = importlib.import_module(found)
                tables = [
                    value
                    for value in vars(models).values()
                    if isinstance(value, type)
                    and issubclass(value, peewee.Model)
                    and value.__module__ == models.__name__
                    and "table_name" in vars(value._meta)
                ]
                if tables:
                    return tables
            if not package:
                break
            package = package.rpartition(".")[0]
    return []


__all__ = ["allow_same_name_apps", "load_app", "service_tables"]
