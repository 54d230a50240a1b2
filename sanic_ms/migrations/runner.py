"""Finding migration classes (module, dotted name, .py path) and running or listing them."""

from __future__ import annotations

import importlib
import importlib.util
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import peewee

from .catalog import connection, table_exists
from .database import connect, unwrap
from .errors import MigrationError
from .model import MigrationModel, natural_key
from .records import ensure_record_table, migration_lock, read_records
from .report import ModelStatus, Report
from .schema import sql_defaults

Target = str | types.ModuleType | type[MigrationModel] | Iterable[Any]


def _load(name: str) -> types.ModuleType:
    if name.endswith(".py") or "/" in name:
        path = Path(name).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {name}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {name}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import {name!r}: {exc}") from exc
    # A service package (examples.users) means its migrations module.
    if not _classes_in(module) and hasattr(module, "__path__"):
        try:
            return importlib.import_module(f"{name}.migrations")
        except ModuleNotFoundError:
            pass
    return module


def _classes_in(module: types.ModuleType) -> list[type[MigrationModel]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, MigrationModel)
        and value is not MigrationModel
        and value.__module__ == module.__name__
    ]


def discover(target: Target) -> list[type[MigrationModel]]:
    """Migration classes of a module (object, dotted name or .py path), class, or list of those."""
    found = _load(target) if isinstance(target, str) else target
    if isinstance(found, types.ModuleType):
        classes = _classes_in(found)
        if not classes:
            raise ValueError(f"no MigrationModel subclasses defined in {found.__name__}")
        return classes
    if isinstance(found, type) and issubclass(found, MigrationModel):
        return [found]
    if isinstance(found, Iterable):
        classes = []
        items: Iterable[Any] = found
        for item in items:
            classes.extend(c for c in discover(item) if c not in classes)
        return classes
    raise TypeError(f"cannot find migrations in {target!r}")


def _database_for(dsn: str | peewee.Database | None) -> peewee.Database:
    if isinstance(dsn, peewee.Database | peewee.DatabaseProxy):
        return unwrap(dsn)
    return connect(dsn)


def apply(target: Target, dsn: str | peewee.Database | None = None) -> Report:
    """Create absent tables and apply pending versions of every class in ``target``."""
    classes = discover(target)
    database = _database_for(dsn)
    with connection(database), migration_lock(database) as waited:
        ensure_record_table(database)
        report = Report([], waited=waited)
        for cls in classes:
            try:
                with sql_defaults([cls._model]):
                    report.models.append(cls(database)._run())
            except MigrationError as exc:
                report.models.extend(exc.report.models if exc.report else [])
                exc.report = report
                raise
    return report


def status(target: Target, dsn: str | peewee.Database | None = None) -> list[ModelStatus]:
    """Applied and pending versions per class in ``target``; changes nothing."""
    classes = discover(target)
    database = _database_for(dsn)
    result = []
    with connection(database):
        for cls in classes:
            records = sorted(
                read_records(database, cls.table()), key=lambda r: natural_key(r.version)
            )
            done = {r.version for r in records}
            defined = cls.versions()
            result.append(
                ModelStatus(
                    name=cls.__name__,
                    table=cls.table(),
                    table_exists=table_exists(database, cls.table()),
                    applied=records,
                    pending=[v for v in defined if v not in done],
                    unknown=[r.version for r in records if r.version not in defined],
                )
            )
    return result
