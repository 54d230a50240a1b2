"""The framework's public surface: ``sanic_ms.__all__``, as httpx's ``test_exported_members``.

Public means: a name bound in the ``sanic_ms`` package itself that does not start with an
underscore and is not a submodule (``sanic_ms.db`` is reached by its import path, not through
``__all__``). Every such name is in ``__all__`` and every name of ``__all__`` is one of them, so
a name added to ``__init__.py`` without ``__all__`` (or the other way round) fails here. The error
family is public as a whole: every error class of ``sanic_ms.errors`` can be imported from
``sanic_ms``.
"""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import sanic_ms
from sanic_ms import errors


def test_all_is_sorted():
    assert sanic_ms.__all__ == sorted(sanic_ms.__all__)


def test_all_names_exactly_the_public_members():
    public = {
        name
        for name, value in vars(sanic_ms).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(sanic_ms.__all__) == public
    assert len(sanic_ms.__all__) == len(set(sanic_ms.__all__)), "a name listed twice"


@pytest.mark.parametrize("name", sanic_ms.__all__)
def test_every_exported_name_imports_from_the_package(name):
    namespace: dict[str, object] = {}
    exec(f"from sanic_ms import {name}", namespace)
    assert namespace[name] is getattr(sanic_ms, name)


def test_every_error_class_is_exported():
    family = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, errors.ServiceError)
        and value.__module__ == errors.__name__
    }
    assert family - set(sanic_ms.__all__) == set()
    assert "ServiceError" in family and "Conflict" in family


def test_star_import_gives_exactly_all():
    namespace: dict[str, object] = {}
    exec("from sanic_ms import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(sanic_ms.__all__)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("sanic_ms.migrations", ["MigrationModel", "info", "db"]),
        ("sanic_ms", ["doc"]),
        ("sanic_ms.tests", ["APITestCase"]),
    ],
)
def test_the_seed_import_paths_stay_valid(module, names):
    """What the original project's services import keeps working through the package ``__init__``."""
    imported = importlib.import_module(module)
    for name in names:
        if not hasattr(imported, name):  # a submodule is imported on first use, as `from` does
            importlib.import_module(f"{module}.{name}")
        assert hasattr(imported, name), f"from {module} import {name}"
