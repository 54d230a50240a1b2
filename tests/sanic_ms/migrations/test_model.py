"""MigrationModel and @info: natural order, once each, a transaction per version, bad definitions."""

from __future__ import annotations

import pytest

from sanic_ms import migrations
from sanic_ms.migrations import (
    MigrationDefinitionError,
    MigrationError,
    MigrationModel,
    info,
    migrate,
)
from tests.sanic_ms.migrations.support import Books, columns, indexes, query, records

# --- order, records, second run ------------------------------------------------------------------


def test_versions_run_in_natural_order_and_are_recorded(dsn):
    ran = []

    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v10", author="carol", datetime="2024-03-01T12:00:00")
        def migrate_v10(self):
            ran.append("v10")

        @info(version="v2", author="bob")
        def migrate_v2(self):
            ran.append("v2")

        @info(version="v1", author="ada")
        def migrate_v1(self):
            ran.append("v1")

    report = migrations.apply(BookMigration, dsn)

    assert ran == ["v1", "v2", "v10"]
    assert BookMigration.versions() == ["v1", "v2", "v10"]
    assert [a.version for a in report.models[0].applied] == ["v1", "v2", "v10"]
    assert records(dsn, "books") == [("v1", "ada"), ("v2", "bob"), ("v10", "carol")]
    authored, applied = query(
        dsn, "SELECT authored_at, applied_at FROM migrate_record WHERE version = 'v10'"
    )[0]
    assert authored.isoformat() == "2024-03-01T12:00:00"
    assert applied is not None


def test_absent_table_is_created_from_the_model_and_an_existing_one_is_kept(dsn):
    class BookMigration(MigrationModel):
        _model = Books

    report = migrations.apply(BookMigration, dsn)
    assert report.models[0].created
    assert set(columns(dsn, "books")) == {"id", "title", "pages", "isbn"}

    query(dsn, "INSERT INTO books (title) VALUES ('Dune')")
    report = migrations.apply(BookMigration, dsn)
    assert not report.models[0].created
    assert query(dsn, "SELECT title FROM books") == [("Dune",)]


def test_a_second_run_does_nothing(dsn):
    calls = []

    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            calls.append(1)
            migrate(self.add_index("title"))

    first = migrations.apply(BookMigration, dsn)
    second = migrations.apply(BookMigration, dsn)

    assert (first.applied, second.applied) == (1, 0)
    assert calls == [1]
    assert len(records(dsn, "books")) == 1
    assert "up to date" in str(second)


def test_a_new_version_added_later_is_the_only_one_applied(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            pass

    migrations.apply(BookMigration, dsn)

    class BookMigrationLater(BookMigration):
        @info(version="v2")
        def migrate_v2(self):
            migrate(self.add_index("pages"))

    report = migrations.apply(BookMigrationLater, dsn)
    assert [a.version for a in report.models[0].applied] == ["v2"]
    assert "books_pages" in indexes(dsn, "books")


# --- transactions --------------------------------------------------------------------------------


def test_a_failing_migration_rolls_back_with_its_record_and_stops_the_run(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.add_index("title"))

        @info(version="v2")
        def migrate_v2(self):
            migrate(self.add_index("pages"))
            raise RuntimeError("boom after the index")

        @info(version="v3")
        def migrate_v3(self):
            migrate(self.add_index("isbn"))

    with pytest.raises(MigrationError, match=r"BookMigration v2 .*rolled back.*boom") as caught:
        migrations.apply(BookMigration, dsn)

    assert records(dsn, "books") == [("v1", None)]
    assert indexes(dsn, "books") == {"books_pkey", "books_title"}  # v2's index undone, v3 not run
    assert [a.version for a in caught.value.report.models[0].applied] == ["v1"]
    status = migrations.status(BookMigration, dsn)[0]
    assert status.pending == ["v2", "v3"]


def test_a_failing_statement_names_the_version_and_the_database_error(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.sql("ALTER TABLE books ADD COLUMN pages integer"))  # already there

    expected = r'BookMigration v1 .*rolled back.*"pages" of relation "books" already exists'
    with pytest.raises(MigrationError, match=expected):
        migrations.apply(BookMigration, dsn)
    assert records(dsn, "books") == []


# --- definition errors ---------------------------------------------------------------------------


def test_info_without_a_version_fails_at_class_definition():
    with pytest.raises(MigrationDefinitionError, match="version"):

        class BookMigration(MigrationModel):
            _model = Books

            @info(author="ada")
            def migrate_v1(self):
                pass


def test_bare_info_fails_at_class_definition():
    with pytest.raises(MigrationDefinitionError, match=r"@info\(version=...\)"):

        class BookMigration(MigrationModel):
            _model = Books

            @info
            def migrate_v1(self):
                pass


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def migrate_v1(self): pass", "migrate_v1 has no @info"),
        ("@info(version='v1')\ndef add_things(self): pass", "does not start with migrate_"),
        (
            "@info(version='v1')\ndef migrate_a(self): pass\n"
            "@info(version='v1')\ndef migrate_b(self): pass",
            "versions must be unique",
        ),
        (
            "@info(version='v1')\ndef migrate_a(self): pass\n"
            "@info(version='v01')\ndef migrate_b(self): pass",
            "versions must be unique",
        ),
        ("@info(version='v1', datetime='last tuesday')\ndef migrate_v1(self): pass", "ISO 8601"),
        ("@info(version=' v1')\ndef migrate_v1(self): pass", "surrounding spaces"),
    ],
)
def test_badly_written_migrations_fail_at_class_definition(body, message):
    source = "class BookMigration(MigrationModel):\n    _model = Books\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )
    with pytest.raises(MigrationDefinitionError, match=message):
        exec(source, {"MigrationModel": MigrationModel, "info": info, "Books": Books})


def test_a_migration_class_needs_a_peewee_model():
    with pytest.raises(MigrationDefinitionError, match="_model must be a peewee Model"):

        class NoModel(MigrationModel):
            _model = "books"
