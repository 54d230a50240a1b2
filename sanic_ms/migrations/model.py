"""Defining migrations (``MigrationModel``, ``@info``) and applying one model's pending versions.

A migration class names one peewee model and holds its versions::

    from sanic_ms.migrations import MigrationModel, info, migrate

    class UserMigration(MigrationModel):
        _model = Users

        @info(version="v1", author="ada", datetime="2024-05-01")
        def migrate_v1(self):
            migrate(self.add_index("name"))

``auto_migrate()`` creates the model's table if it is absent, then runs every version not yet
recorded in ``migrate_record``, in natural order (v2 before v10). Each version runs in one
transaction together with its record row, so a failure leaves neither. The helpers a version calls
(``self.add_index`` ...) are in ``operations.py``; the record table and the lock in ``records.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Callable
from typing import Any, TypeVar

import peewee
from playhouse.migrate import PostgresqlMigrator, migrate

from .catalog import connection, table_exists
from .database import unwrap
from .errors import MigrationDefinitionError, MigrationError
from .operations import Operations, as_operations
from .records import ensure_record_table, insert_record, migration_lock, read_records
from .report import Applied, ModelReport, Report
from .schema import sql_defaults

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Info:
    """What ``@info`` attaches to a migration method."""

    version: str
    author: str | None
    datetime: dt.datetime | None


def natural_key(version: str) -> tuple[str | int, ...]:
    """Sort key that orders v2 before v10: digit runs compare as numbers."""
    # BEGIN SOLUTION task 1: split the version into text and digit runs, digits as numbers
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version))
    # END SOLUTION


def _parse_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise MigrationDefinitionError(
        f"@info(datetime=...) must be a datetime, a date or an ISO 8601 string, not {value!r}"
    )


def info(
    version: str | None = None, author: str | None = None, datetime: Any = None
) -> Callable[[F], F]:
    """Mark a ``migrate_*`` method as migration ``version`` (required), by ``author``, dated."""
    # BEGIN SOLUTION task 2: check version and author, return a decorator setting fn.__migration__
    if callable(version):
        raise MigrationDefinitionError(
            f"write @info(version=...) with a version, not bare @info on {version.__name__}"
        )
    if not isinstance(version, str) or not version.strip():
        raise MigrationDefinitionError(
            f"@info needs version= as a non-empty string such as 'v1', got {version!r}"
        )
    if version != version.strip() or len(version) > 64:
        raise MigrationDefinitionError(f"version {version!r}: no surrounding spaces, at most 64")
    if author is not None and not isinstance(author, str):
        raise MigrationDefinitionError(f"@info(author=...) must be a string, not {author!r}")
    meta = Info(version, author, _parse_datetime(datetime))

    def mark(fn: F) -> F:
        if not callable(fn):
            raise MigrationDefinitionError(f"@info decorates a method, not {fn!r}")
        fn.__migration__ = meta  # type: ignore[attr-defined]  # the mark is an attribute
        return fn

    return mark
    # END SOLUTION


@dataclasses.dataclass(frozen=True)
class Migration:
    """One version of one migration class."""

    name: str  # the method name
    info: Info

    @property
    def version(self) -> str:
        return self.info.version


class MigrationModel(Operations):
    """Subclass with ``_model = SomePeeweeModel`` and ``@info``-decorated ``migrate_*`` methods."""

    _migrations: tuple[Migration, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("_model", getattr(cls, "_model", None))
        if not (isinstance(model, type) and issubclass(model, peewee.Model)):
            raise MigrationDefinitionError(
                f"{cls.__name__}._model must be a peewee Model class, got {model!r}"
            )
        members: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            members.update(vars(klass))
        found: list[Migration] = []
        for name, member in members.items():
            meta = getattr(member, "__migration__", None)
            if name.startswith("migrate_"):
                if meta is None:
                    raise MigrationDefinitionError(
                        f"{cls.__name__}.{name} has no @info(version=...); a migrate_* method "
                        "without a version would never run"
                    )
                found.append(Migration(name, meta))
            elif meta is not None:
                raise MigrationDefinitionError(
                    f"{cls.__name__}.{name} has @info but its name does not start with migrate_"
                )
        found.sort(key=lambda m: natural_key(m.version))
        for before, after in itertools.pairwise(found):
            if natural_key(before.version) == natural_key(after.version):
                raise MigrationDefinitionError(
                    f"{cls.__name__}: {before.name} and {after.name} share version "
                    f"{before.version!r}/{after.version!r}; versions must be unique per model"
                )
        cls._migrations = tuple(found)

    def __init__(self, database: peewee.Database | peewee.DatabaseProxy | None = None):
        self.database = unwrap(database)
        self.migrator = PostgresqlMigrator(self.database)
        self._notes = []
        self._created = False

    @classmethod
    def versions(cls) -> list[str]:
        """Every version this class defines, in the order they run."""
        return [m.version for m in cls._migrations]

    # -- running ---------------------------------------------------------------------------------

    def auto_migrate(self) -> ModelReport:
        """Create the table if absent, then apply pending versions; holds the migration lock."""
        with connection(self.database), migration_lock(self.database):
            ensure_record_table(self.database)
            with sql_defaults([self._model]):
                return self._run()

    def _run(self) -> ModelReport:
        # BEGIN SOLUTION task 3: create the table if absent, run each pending version, record it
        report = ModelReport(type(self).__name__, self.table())
        with self.database.atomic():
            if not table_exists(self.database, self.table()):
                with self.database.bind_ctx([self._model], bind_refs=False, bind_backrefs=False):
                    self._model.create_table(safe=True)
                report.created = self._created = True
        done = {row.version for row in read_records(self.database, self.table())}
        for migration in self._migrations:
            if migration.version in done:
                continue
            self._notes = []
            try:
                with self.database.atomic():
                    result = getattr(self, migration.name)()
                    if result is not None:
                        migrate(*as_operations(result))
                    insert_record(self.database, self.table(), migration.info)
            except Exception as exc:
                raise MigrationError(
                    f"{type(self).__name__} {migration.version} ({migration.name}) failed and "
                    f"was rolled back: {type(exc).__name__}: {exc}".rstrip(),
                    Report([report]),
                ) from exc
            report.applied.append(Applied(migration.version, migration.info.author, self._notes))
        return report
        # END SOLUTION
