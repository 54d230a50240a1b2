"""The schema helpers of a migration class (``self.add_column(...)``): converging Operations.

Each helper returns a playhouse ``Operation`` for ``migrate(...)``. They check the catalog when they
run (inside the migration's transaction), so they converge instead of failing when the table was
just created from the current model: the step already done is skipped and noted in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import peewee
from playhouse.migrate import Operation, PostgresqlMigrator, make_index_name

from .catalog import (
    column_exists,
    constraint_exists,
    execute,
    has_rows,
    index_exists,
    table_exists,
)
from .errors import MigrationError
from .records import move_records


class Operations:
    """Base of ``MigrationModel``: its table's name and the helpers a version calls."""

    _model: ClassVar[type[peewee.Model]]
    database: peewee.Database
    migrator: PostgresqlMigrator
    _notes: list[str]
    _created: bool  # whether this run created the model's table

    @classmethod
    def table(cls) -> str:
        return str(cls._model._meta.table_name)

    def _column(self, name: str) -> tuple[str, peewee.Field | None]:
        """Column name and model field for a field name or a column name."""
        fields = self._model._meta.fields
        if name in fields:
            return fields[name].column_name, fields[name]
        for field in fields.values():
            if field.column_name == name:
                return name, field
        return name, None

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

        def build() -> Any:
            if column_exists(self.database, table, column):
                return self._note(f"column {table}.{column} exists, not added")
            return self.migrator.add_column(table, column, field)

        return self._lazy(build)

    def drop_column(self, name: str, cascade: bool = True) -> Operation:
        column, _ = self._column(name)
        table = self.table()

        def build() -> Any:
            if not column_exists(self.database, table, column):
                return self._note(f"column {table}.{column} absent, not dropped")
            return self.migrator.drop_column(table, column, cascade=cascade)

        return self._lazy(build)

    def rename_column(self, old: str, new: str) -> Operation:
        table = self.table()

        def build() -> Any:
            has_old = column_exists(self.database, table, old)
            has_new = column_exists(self.database, table, new)
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

        def build() -> Any:
            if index_exists(self.database, index):
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

        def build() -> Any:
            if not index_exists(self.database, index):
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

        def build() -> Any:
            has_old = table_exists(self.database, old)
            has_new = table_exists(self.database, new)
            if has_old and has_new and new == self.table() and self._created:
                if has_rows(self.database, new):
                    raise MigrationError(f"cannot rename table {old} to {new}: {new} has rows")
                self._note(f"table {new} was created empty by this run; replaced by {old}")
                execute(self.database, f'DROP TABLE "{new}"')
                has_new = False
            if has_old and not has_new:
                move_records(self.database, old, new)
                return self.migrator.rename_table(old, new)
            if has_new and not has_old:
                return self._note(f"table {new} exists, {old} absent: not renamed")
            state = "both exist" if has_old else "neither exists"
            raise MigrationError(f"cannot rename table {old} to {new}: {state}")

        return self._lazy(build)

    def add_check(self, name: str, expression: str) -> Operation:
        """A named CHECK constraint on this table, e.g. ``add_check("users_age", "age >= 0")``."""
        table = self.table()

        def build() -> Any:
            if constraint_exists(self.database, table, name):
                return self._note(f"constraint {name} exists, not added")
            return self.migrator.add_constraint(table, name, peewee.Check(expression))

        return self._lazy(build)

    def drop_check(self, name: str) -> Operation:
        table = self.table()

        def build() -> Any:
            if not constraint_exists(self.database, table, name):
                return self._note(f"constraint {name} absent, not dropped")
            return self.migrator.drop_constraint(table, name)

        return self._lazy(build)

    def sql(self, statement: str, params: tuple[Any, ...] | None = None) -> Operation:
        """Any SQL, for data migrations (psycopg placeholders: %s)."""
        return self.migrator.sql(statement, params)


def as_operations(result: Any) -> list[Operation]:
    """What a version returned (an Operation or a list of them) as a list, or a TypeError."""
    items = result if isinstance(result, list | tuple) else [result]
    for item in items:
        if not isinstance(item, Operation):
            raise TypeError(f"a migration returns Operations (or None), not {item!r}")
    return list(items)
