"""The helpers a version calls (add_column, add_index, rename_table ...): they change and converge."""

from __future__ import annotations

import peewee
import psycopg
import pytest

from sanic_ms import migrations
from sanic_ms.migrations import MigrationError, MigrationModel, info, migrate
from tests.sanic_ms.migrations.support import Books, columns, indexes, query, records

# --- helpers -------------------------------------------------------------------------------------


def test_helpers_change_an_existing_table(dsn):
    """An old table (created before the model grew) is brought up to the model by each helper."""
    query(dsn, "CREATE TABLE books (id serial PRIMARY KEY, title varchar(100), legacy text)")
    query(dsn, "INSERT INTO books (title) VALUES ('Dune')")

    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(
                self.add_column("pages"),
                self.add_column("isbn"),
                self.add_column("stock", peewee.IntegerField(default=3)),
                self.drop_column("legacy"),
            )

        @info(version="v2")
        def migrate_v2(self):
            migrate(self.rename_column("stock", "copies"), self.add_not_null("title"))

        @info(version="v3")
        def migrate_v3(self):
            migrate(self.add_index(["title", "isbn"], unique=True), self.add_index("pages"))

        @info(version="v4")
        def migrate_v4(self):
            migrate(self.drop_index("books_pages"), self.drop_not_null("copies"))

        @info(version="v5")
        def migrate_v5(self):
            migrate(self.add_check("books_pages_positive", "pages > 0"))

    report = migrations.apply(BookMigration, dsn)

    assert report.applied == 5
    assert all(not a.notes for a in report.models[0].applied)
    assert columns(dsn, "books") == {
        "id": "NO",
        "title": "NO",
        "pages": "YES",
        "isbn": "YES",
        "copies": "YES",
    }
    assert query(dsn, "SELECT title, copies FROM books") == [("Dune", 3)]
    assert indexes(dsn, "books") == {"books_pkey", "books_title_isbn"}
    with pytest.raises(psycopg.errors.CheckViolation):
        query(dsn, "INSERT INTO books (title, pages) VALUES ('Empty', 0)")


def test_renaming_a_models_table_brings_its_rows_sequence_and_records(dsn):
    """The model's table_name changed from old_books to books on an already migrated database."""

    class Old(peewee.Model):
        title = peewee.CharField(max_length=100)

        class Meta:
            table_name = "old_books"

    class OldMigration(MigrationModel):
        _model = Old

        @info(version="v1", author="ada")
        def migrate_v1(self):
            migrate(self.add_index("title"))

    migrations.apply(OldMigration, dsn)
    query(dsn, "INSERT INTO old_books (title) VALUES ('Dune')")

    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1", author="ada")
        def migrate_v1(self):
            migrate(self.add_index("title"))

        @info(version="v2", author="bob")
        def migrate_v2(self):
            migrate(self.rename_table("old_books"), self.add_column("pages"))

    report = migrations.apply(BookMigration, dsn)

    assert report.models[0].created  # books did not exist yet: created empty, then replaced
    assert query(dsn, "SELECT title FROM books") == [("Dune",)]
    assert "old_books" not in {
        t
        for (t,) in query(
            dsn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    }
    query(dsn, "INSERT INTO books (title) VALUES ('Emma')")  # the renamed sequence still serves
    assert query(dsn, "SELECT id FROM books ORDER BY id") == [(1,), (2,)]
    assert records(dsn, "books") == [("v1", "ada"), ("v2", "bob")]
    assert records(dsn, "old_books") == []
    assert migrations.apply(BookMigration, dsn).applied == 0


def test_on_a_fresh_table_the_helpers_converge_and_say_so(dsn):
    """The table is created from today's model, which already has what v1 adds."""

    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.add_column("isbn"), self.drop_column("legacy"))

    report = migrations.apply(BookMigration, dsn)

    assert report.models[0].applied[0].notes == [
        "column books.isbn exists, not added",
        "column books.legacy absent, not dropped",
    ]
    assert records(dsn, "books") == [("v1", None)]


@pytest.mark.parametrize(
    "operation, refusal",
    [
        pytest.param(
            lambda m: m.rename_table("books", "volumes"),
            "own table away",
            id="renaming_a_models_own_table_away",
        ),
        pytest.param(
            lambda m: m.rename_column("nope", "also_nope"),
            "neither exists",
            id="rename_column_when_neither_column_exists",
        ),
        pytest.param(
            lambda m: m.add_column("author"),
            "Books has no field 'author'; pass field=",
            id="add_column_of_an_unknown_field",
        ),
    ],
)
def test_a_helper_refuses_what_it_cannot_do_with_a_clear_error(dsn, operation, refusal):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(operation(self))

    with pytest.raises(MigrationError, match=refusal):
        migrations.apply(BookMigration, dsn)


def test_a_migration_may_return_its_operations(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            return [self.add_index("isbn"), self.sql("INSERT INTO books (title) VALUES ('Dune')")]

    migrations.apply(BookMigration, dsn)
    assert "books_isbn" in indexes(dsn, "books")
    assert query(dsn, "SELECT title FROM books") == [("Dune",)]
