"""Versioned schema migrations for peewee models: ordered, transactional, recorded, run once.

peewee describes the tables; queries stay on asyncpg. A migration class names one model and holds
its versions::

    from sanic_ms.migrations import MigrationModel, info, migrate

    class UserMigration(MigrationModel):
        _model = Users

        @info(version="v1", author="ada", datetime="2024-05-01")
        def migrate_v1(self):
            migrate(self.add_index("name"))

``auto_migrate()`` creates the model's table if it is absent, then runs every version not yet
recorded in ``migrate_record``, in natural order (v2 before v10). Each version runs in one
transaction together with its record row, so a failure leaves neither. The whole run holds a
PostgreSQL advisory lock, so two runners started at once apply each version exactly once.

The table is created from the model as it is *now*, so on a fresh database the model already has
what older migrations add. The helpers therefore converge: adding a column or an index that is
already there, or dropping one that is gone, is skipped and noted in the report rather than
failing. A version still runs (and is recorded) on a fresh database, so data migrations run too.

Columns whose model default is a Python callable for a timestamp or an id (``datetime.now``,
``datetime.utcnow``, ``date.today``, ``uuid4``) get the SQL equivalent as their DEFAULT, so a raw
``INSERT`` that leaves them out works as it does through peewee (see :func:`sql_default`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import importlib.util
import itertools
import re
import sys
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
from playhouse.migrate import Operation, PostgresqlMigrator, make_index_name, migrate
from playhouse.postgres_ext import Psycopg3Database

from .dsn import database_url

__all__ = [
    "LOCK_KEY",
    "RECORD_TABLE",
    "MigrationDefinitionError",
    "MigrationError",
    "MigrationModel",
    "ModelReport",
    "ModelStatus",
    "Report",
    "apply",
    "connect",
    "create_table_sql",
    "db",
    "discover",
    "info",
    "migrate",
    "sql_default",
    "sql_defaults",
    "status",
]

RECORD_TABLE = "migrate_record"
# One advisory lock key for every runner on a database ("sanic_ms" in ASCII). Advisory locks are
# scoped to the database, so runners on other databases never wait for each other.
LOCK_KEY = 0x73616E69635F6D73


class MigrationDefinitionError(TypeError):
    """A migration class or ``@info`` is written wrong; raised while the class is defined."""


class MigrationError(RuntimeError):
    """A migration failed; its transaction was rolled back and nothing was recorded for it."""

    def __init__(self, message: str, report: Report | None = None):
        super().__init__(message)
        self.report = report


# --- connecting ---------------------------------------------------------------------------------


def connect(dsn: str | None = None) -> Psycopg3Database:
    """A peewee database on psycopg 3 for ``dsn`` (default: ``DATABASE_URL`` in the environment)."""
    if dsn is None:
        dsn = database_url("sanic_ms.migrations")
    # peewee hands the string to psycopg as a conninfo only when it starts with postgresql://.
    if dsn.startswith("postgres://"):
        dsn = "postgresql://" + dsn[len("postgres://") :]
    return Psycopg3Database(dsn)


class _DefaultDatabase(peewee.DatabaseProxy):
    """The seed's module-level ``db``: connects to ``DATABASE_URL``'s PostgreSQL on first use."""

    def _ensure(self) -> None:
        if self.obj is None:
            self.initialize(connect())

    def __getattr__(self, attr):
        if attr.startswith("__") or attr == "_Model":  # probes (copy, hasattr) must not connect
            raise AttributeError(attr)
        self._ensure()
        return getattr(self.obj, attr)

    def __enter__(self):
        self._ensure()
        return self.obj.__enter__()


db = _DefaultDatabase()


def _unwrap(database: peewee.Database | peewee.DatabaseProxy | None) -> peewee.Database:
    database = db if database is None else database
    if isinstance(database, _DefaultDatabase):
        database._ensure()
    if isinstance(database, peewee.Proxy):
        if database.obj is None:
            raise ValueError("the database proxy is not initialized")
        database = database.obj
    if not isinstance(database, peewee.PostgresqlDatabase):
        raise TypeError(f"migrations need PostgreSQL, not {type(database).__name__}")
    return database


# --- creating tables ----------------------------------------------------------------------------
# peewee keeps a callable default (``default=datetime.utcnow``) in Python: the column gets no SQL
# DEFAULT, so a raw ``INSERT ... RETURNING`` (how services write, through asyncpg) that omits it
# fails on NOT NULL. The callables models use for timestamps and ids get their SQL equivalent.

_NOW = "CURRENT_TIMESTAMP"
_UTC_NOW = "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"  # a naive UTC timestamp, like utcnow()
_CALLABLE_DEFAULTS: dict[Any, str] = {
    dt.datetime.now: _NOW,
    dt.datetime.today: _NOW,
    dt.datetime.utcnow: _UTC_NOW,
    peewee.utcnow: _UTC_NOW,  # what TimestampField(utc=True) uses
    dt.date.today: "CURRENT_DATE",
    uuid.uuid4: "gen_random_uuid()",  # built into PostgreSQL 13+
}


def sql_default(field: peewee.Field) -> str | None:
    """The SQL expression for ``field``'s Python default callable, or None if there is none."""
    default = field.default
    try:
        expression = _CALLABLE_DEFAULTS.get(default) if callable(default) else None
    except TypeError:  # an unhashable callable
        return None
    if expression is None:
        return None
    if isinstance(field, peewee.TimestampField):  # seconds (or ticks) since the epoch
        return f"CAST(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) * {field.resolution} AS BIGINT)"
    if expression == _UTC_NOW and field.field_type == "TIMESTAMPTZ":
        return _NOW  # an aware column stores the instant itself
    if default is uuid.uuid4 and field.field_type != "UUID":
        if field.field_type not in ("VARCHAR", "TEXT"):
            return None
        return "CAST(gen_random_uuid() AS TEXT)"  # str(uuid4()): the same 36 characters
    return expression


def _has_sql_default(field: peewee.Field) -> bool:
    return any(
        isinstance(c, peewee.SQL) and c.sql.lstrip().upper().startswith("DEFAULT")
        for c in field.constraints or ()
    )


@contextmanager
def sql_defaults(models: Iterable[type[peewee.Model]]) -> Iterator[None]:
    """While the block runs, the DDL of ``models`` carries SQL defaults (see :func:`sql_default`).

    A field that already declares ``constraints=[SQL("DEFAULT ...")]`` keeps its own.
    """
    changed: list[tuple[peewee.Field, list | None]] = []
    try:
        for model in models:
            for field in model._meta.sorted_fields:
                expression = sql_default(field)
                if expression is None or _has_sql_default(field):
                    continue
                changed.append((field, field.constraints))
                field.constraints = [
                    *(field.constraints or ()),
                    peewee.SQL(f"DEFAULT {expression}"),
                ]
        yield
    finally:
        for field, constraints in changed:
            field.constraints = constraints


def create_table_sql(models: Iterable[type[peewee.Model]]) -> list[str]:
    """The CREATE TABLE / INDEX statements for ``models`` (PostgreSQL), with their SQL defaults."""
    models = list(models)
    design = peewee.PostgresqlDatabase(None)
    statements = []
    with design.bind_ctx(models, bind_refs=False, bind_backrefs=False), sql_defaults(models):
        for model in models:
            ctx = model._schema._create_table(safe=True)
            statements.append(design.get_sql_context().sql(ctx).query()[0])
            for index in model._schema._create_indexes(safe=True):
                statements.append(design.get_sql_context().sql(index).query()[0])
    return statements


# --- defining migrations ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Info:
    """What ``@info`` attaches to a migration method."""

    version: str
    author: str | None
    datetime: dt.datetime | None


def natural_key(version: str) -> tuple:
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


def info(version: str | None = None, author: str | None = None, datetime: Any = None):
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

    def mark(fn: Callable) -> Callable:
        if not callable(fn):
            raise MigrationDefinitionError(f"@info decorates a method, not {fn!r}")
        fn.__migration__ = meta
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


class MigrationModel:
    """Subclass with ``_model = SomePeeweeModel`` and ``@info``-decorated ``migrate_*`` methods."""

    _model: type[peewee.Model]
    _migrations: tuple[Migration, ...] = ()

    def __init_subclass__(cls, **kwargs):
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
        self.database = _unwrap(database)
        self.migrator = PostgresqlMigrator(self.database)
        self._notes: list[str] = []
        self._created = False  # whether this run created the model's table

    # -- names ---------------------------------------------------------------------------------

    @classmethod
    def table(cls) -> str:
        return cls._model._meta.table_name

    @classmethod
    def versions(cls) -> list[str]:
        """Every version this class defines, in the order they run."""
        return [m.version for m in cls._migrations]

    def _column(self, name: str) -> tuple[str, peewee.Field | None]:
        """Column name and model field for a field name or a column name."""
        fields = self._model._meta.fields
        if name in fields:
            return fields[name].column_name, fields[name]
        for field in fields.values():
            if field.column_name == name:
                return name, field
        return name, None

    # -- running ---------------------------------------------------------------------------------

    def auto_migrate(self) -> ModelReport:
        """Create the table if absent, then apply pending versions; holds the migration lock."""
        with _connection(self.database), migration_lock(self.database):
            _ensure_record_table(self.database)
            with sql_defaults([self._model]):
                return self._run()

    def _run(self) -> ModelReport:
        # BEGIN SOLUTION task 3: create the table if absent, run each pending version, record it
        report = ModelReport(type(self).__name__, self.table())
        with self.database.atomic():
            if not _table_exists(self.database, self.table()):
                with self.database.bind_ctx([self._model], bind_refs=False, bind_backrefs=False):
                    self._model.create_table(safe=True)
                report.created = self._created = True
        done = {row.version for row in _records(self.database, self.table())}
        for migration in self._migrations:
            if migration.version in done:
                continue
            self._notes = []
            try:
                with self.database.atomic():
                    result = getattr(self, migration.name)()
                    if result is not None:
                        migrate(*_operations(result))
                    _insert_record(self.database, self.table(), migration.info)
            except Exception as exc:
                raise MigrationError(
                    f"{type(self).__name__} {migration.version} ({migration.name}) failed and "
                    f"was rolled back: {type(exc).__name__}: {exc}".rstrip(),
                    Report([report]),
                ) from exc
            report.applied.append(Applied(migration.version, migration.info.author, self._notes))
        return report
        # END SOLUTION

    # -- helpers: each returns a playhouse Operation for migrate(...) -----------------------------
    # They check the catalog when they run (inside the migration's transaction), so they converge
    # instead of failing when the table was just created from the current model.

    def _lazy(self, build: Callable[[], Any]) -> Operation:
        return Operation(self.migrator, lambda _migrator: build() or [])

    def _note(self, text: str) -> None:
        self._notes.append(text)

    def add_column(self, name: str, field: peewee.Field | None = None) -> Operation:
        """Add column ``name``; its definition comes from the model unless ``field`` is given."""
        column, model_field = self._column(name)
        field = field or model_field
        if field is None:
            raise ValueError(f"{self._model.__name__} has no field {name!r}; pass field=")
        table = self.table()

        def build():
            if _column_exists(self.database, table, column):
                return self._note(f"column {table}.{column} exists, not added")
            return self.migrator.add_column(table, column, field)

        return self._lazy(build)

    def drop_column(self, name: str, cascade: bool = True) -> Operation:
        column, _ = self._column(name)
        table = self.table()

        def build():
            if not _column_exists(self.database, table, column):
                return self._note(f"column {table}.{column} absent, not dropped")
            return self.migrator.drop_column(table, column, cascade=cascade)

        return self._lazy(build)

    def rename_column(self, old: str, new: str) -> Operation:
        table = self.table()

        def build():
            has_old = _column_exists(self.database, table, old)
            has_new = _column_exists(self.database, table, new)
            if has_old and not has_new:
                return self.migrator.rename_column(table, old, new)
            if has_new and not has_old:
                return self._note(f"column {table}.{new} exists, {old} absent: not renamed")
            state = "both exist" if has_old else "neither exists"
            raise MigrationError(f"cannot rename {table}.{old} to {new}: {state}")

        return self._lazy(build)

    def add_not_null(self, name: str) -> Operation:
        # SET NOT NULL is idempotent in PostgreSQL: no check needed.
        return self.migrator.add_not_null(self.table(), self._column(name)[0])

    def drop_not_null(self, name: str) -> Operation:
        return self.migrator.drop_not_null(self.table(), self._column(name)[0])

    def add_index(
        self, columns: str | Iterable[str], unique: bool = False, name: str | None = None
    ) -> Operation:
        """Index on one column or several; named like peewee does unless ``name`` is given."""
        cols = [self._column(c)[0] for c in ([columns] if isinstance(columns, str) else columns)]
        table = self.table()
        index = name or make_index_name(table, cols)

        def build():
            if _index_exists(self.database, index):
                return self._note(f"index {index} exists, not added")
            return self.migrator.add_index(table, cols, unique=unique, name=index)

        return self._lazy(build)

    def drop_index(self, name_or_columns: str | Iterable[str]) -> Operation:
        """Drop an index by name, or by the columns it was added on with :meth:`add_index`."""
        table = self.table()
        if isinstance(name_or_columns, str):
            index = name_or_columns
        else:
            index = make_index_name(table, [self._column(c)[0] for c in name_or_columns])

        def build():
            if not _index_exists(self.database, index):
                return self._note(f"index {index} absent, not dropped")
            return self.migrator.drop_index(table, index)

        return self._lazy(build)

    def rename_table(self, old: str, new: str | None = None) -> Operation:
        """Rename table ``old`` to ``new`` (default: this model's table), with its records.

        After a model's ``table_name`` changes, this run first creates the new table empty; the
        rename then replaces that empty table with the old one and moves the old table's
        ``migrate_record`` rows to the new name.
        """
        new = new or self.table()
        if old == self.table():
            raise ValueError(
                f"rename_table({old!r}) would rename {self._model.__name__}'s own table away: "
                f"set its table_name to the new name and call rename_table({old!r}) instead"
            )

        def build():
            has_old = _table_exists(self.database, old)
            has_new = _table_exists(self.database, new)
            if has_old and has_new and new == self.table() and self._created:
                if _has_rows(self.database, new):
                    raise MigrationError(f"cannot rename table {old} to {new}: {new} has rows")
                self._note(f"table {new} was created empty by this run; replaced by {old}")
                self.database.execute_sql(f'DROP TABLE "{new}"')
                has_new = False
            if has_old and not has_new:
                _move_records(self.database, old, new)
                return self.migrator.rename_table(old, new)
            if has_new and not has_old:
                return self._note(f"table {new} exists, {old} absent: not renamed")
            state = "both exist" if has_old else "neither exists"
            raise MigrationError(f"cannot rename table {old} to {new}: {state}")

        return self._lazy(build)

    def add_check(self, name: str, expression: str) -> Operation:
        """A named CHECK constraint on this table, e.g. ``add_check("users_age", "age >= 0")``."""
        table = self.table()

        def build():
            if _constraint_exists(self.database, table, name):
                return self._note(f"constraint {name} exists, not added")
            return self.migrator.add_constraint(table, name, peewee.Check(expression))

        return self._lazy(build)

    def drop_check(self, name: str) -> Operation:
        table = self.table()

        def build():
            if not _constraint_exists(self.database, table, name):
                return self._note(f"constraint {name} absent, not dropped")
            return self.migrator.drop_constraint(table, name)

        return self._lazy(build)

    def sql(self, statement: str, params: tuple | None = None) -> Operation:
        """Any SQL, for data migrations (psycopg placeholders: %s)."""
        return self.migrator.sql(statement, params)


def _operations(result: Any) -> list[Operation]:
    items = result if isinstance(result, list | tuple) else [result]
    for item in items:
        if not isinstance(item, Operation):
            raise TypeError(f"a migration returns Operations (or None), not {item!r}")
    return list(items)


# --- the record table and the lock ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Record:
    """One row of ``migrate_record``."""

    version: str
    author: str | None
    authored_at: dt.datetime | None
    applied_at: dt.datetime


def _ensure_record_table(database: peewee.Database) -> None:
    database.execute_sql(
        f"""CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (
            id serial PRIMARY KEY,
            table_name varchar(255) NOT NULL,
            version varchar(64) NOT NULL,
            author varchar(255),
            authored_at timestamp,
            applied_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (table_name, version)
        )"""
    )


def _records(database: peewee.Database, table: str) -> list[Record]:
    if not _table_exists(database, RECORD_TABLE):
        return []
    cursor = database.execute_sql(
        f"SELECT version, author, authored_at, applied_at FROM {RECORD_TABLE}"
        " WHERE table_name = %s",
        (table,),
    )
    rows = [Record(*row) for row in cursor.fetchall()]
    return sorted(rows, key=lambda r: natural_key(r.version))


def _insert_record(database: peewee.Database, table: str, meta: Info) -> None:
    database.execute_sql(
        f"INSERT INTO {RECORD_TABLE} (table_name, version, author, authored_at)"
        " VALUES (%s, %s, %s, %s)",
        (table, meta.version, meta.author, meta.datetime),
    )


def _table_exists(database: peewee.Database, table: str) -> bool:
    cursor = database.execute_sql(
        "SELECT 1 FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )
    return cursor.fetchone() is not None


def _column_exists(database: peewee.Database, table: str, column: str) -> bool:
    cursor = database.execute_sql(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s AND column_name = %s",
        (table, column),
    )
    return cursor.fetchone() is not None


def _index_exists(database: peewee.Database, index: str) -> bool:
    cursor = database.execute_sql(
        "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s",
        (index,),
    )
    return cursor.fetchone() is not None


def _constraint_exists(database: peewee.Database, table: str, name: str) -> bool:
    cursor = database.execute_sql(
        "SELECT 1 FROM information_schema.table_constraints"
        " WHERE table_schema = current_schema() AND table_name = %s AND constraint_name = %s",
        (table, name),
    )
    return cursor.fetchone() is not None


def _has_rows(database: peewee.Database, table: str) -> bool:
    return database.execute_sql(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None


def _move_records(database: peewee.Database, old: str, new: str) -> None:
    """Records follow a renamed table; where both names hold a version, the old row is kept."""
    if not _table_exists(database, RECORD_TABLE):
        return
    database.execute_sql(
        f"DELETE FROM {RECORD_TABLE} n WHERE n.table_name = %s AND EXISTS"
        f" (SELECT 1 FROM {RECORD_TABLE} o WHERE o.table_name = %s AND o.version = n.version)",
        (new, old),
    )
    database.execute_sql(
        f"UPDATE {RECORD_TABLE} SET table_name = %s WHERE table_name = %s", (new, old)
    )


@contextmanager
def _connection(database: peewee.Database) -> Iterator[None]:
    """Reuse an open connection (the caller may be inside a transaction), else open one."""
    if database.is_closed():
        with database.connection_context():
            yield
    else:
        yield


@contextmanager
def migration_lock(database: peewee.Database) -> Iterator[bool]:
    """Hold the session advisory lock; yields whether another runner made us wait."""
    got = database.execute_sql("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
    if not got:
        print("waiting for another migration runner to finish...", file=sys.stderr)
        database.execute_sql("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    try:
        yield not got
    finally:
        database.execute_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


# --- reports ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Applied:
    version: str
    author: str | None
    notes: list[str]


@dataclasses.dataclass
class ModelReport:
    """What one run did to one model's table."""

    name: str
    table: str
    created: bool = False
    applied: list[Applied] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"{self.name} ({self.table})"
        if not self.created and not self.applied:
            return [f"{head}: up to date"]
        out = [f"{head}: created table" if self.created else f"{head}:"]
        for item in self.applied:
            by = f" by {item.author}" if item.author else ""
            out.append(f"  applied {item.version}{by}")
            out.extend(f"    {note}" for note in item.notes)
        return out


@dataclasses.dataclass
class Report:
    """What :func:`apply` did, per model."""

    models: list[ModelReport]
    waited: bool = False

    @property
    def applied(self) -> int:
        return sum(len(m.applied) for m in self.models)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        lines = ["waited for another migration runner"] if self.waited else []
        for model in self.models:
            lines.extend(model.lines())
        lines.append(f"{self.applied} version(s) applied")
        return "\n".join(lines)


@dataclasses.dataclass
class ModelStatus:
    """Applied and pending versions of one model."""

    name: str
    table: str
    table_exists: bool
    applied: list[Record]
    pending: list[str]
    unknown: list[str]  # recorded, but no longer defined in the code

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for row in data["applied"]:
            for key in ("authored_at", "applied_at"):
                row[key] = row[key].isoformat() if row[key] else None
        return data

    def lines(self) -> list[str]:
        exists = "" if self.table_exists else ", table absent"
        out = [f"{self.name} ({self.table}{exists})"]
        for row in self.applied:
            by = f" by {row.author}" if row.author else ""
            gone = "  (not in the code)" if row.version in self.unknown else ""
            when = row.applied_at.isoformat(timespec="seconds")
            out.append(f"  applied  {row.version}{by} at {when}{gone}")
        out.extend(f"  pending  {version}" for version in self.pending)
        if not self.applied and not self.pending:
            out.append("  (no versions defined)")
        return out


# --- finding and running migration classes ------------------------------------------------------

Target = str | types.ModuleType | type[MigrationModel] | Iterable[Any]


def _load(name: str) -> types.ModuleType:
    if name.endswith(".py") or "/" in name:
        path = Path(name).resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {name}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
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
    if isinstance(target, str):
        target = _load(target)
    if isinstance(target, types.ModuleType):
        found = _classes_in(target)
        if not found:
            raise ValueError(f"no MigrationModel subclasses defined in {target.__name__}")
        return found
    if isinstance(target, type) and issubclass(target, MigrationModel):
        return [target]
    if isinstance(target, Iterable):
        classes: list[type[MigrationModel]] = []
        for item in target:
            classes.extend(c for c in discover(item) if c not in classes)
        return classes
    raise TypeError(f"cannot find migrations in {target!r}")


def _database_for(dsn: str | peewee.Database | None) -> peewee.Database:
    if isinstance(dsn, peewee.Database | peewee.DatabaseProxy):
        return _unwrap(dsn)
    return connect(dsn)


def apply(target: Target, dsn: str | peewee.Database | None = None) -> Report:
    """Create absent tables and apply pending versions of every class in ``target``."""
    classes = discover(target)
    database = _database_for(dsn)
    with _connection(database), migration_lock(database) as waited:
        _ensure_record_table(database)
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
    with _connection(database):
        for cls in classes:
            records = _records(database, cls.table())
            done = {r.version for r in records}
            defined = cls.versions()
            result.append(
                ModelStatus(
                    name=cls.__name__,
                    table=cls.table(),
                    table_exists=_table_exists(database, cls.table()),
                    applied=records,
                    pending=[v for v in defined if v not in done],
                    unknown=[r.version for r in records if r.version not in defined],
                )
            )
    return result
