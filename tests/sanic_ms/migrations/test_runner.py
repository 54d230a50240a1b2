"""apply, status and discover over several classes; the seed's module-level db; the examples."""

from __future__ import annotations

import psycopg
import pytest

from sanic_ms import migrations
from sanic_ms.migrations import MigrationModel, info, migrate
from tests.sanic_ms.migrations.support import Books, indexes, query, records

# --- status --------------------------------------------------------------------------------------


def test_status_lists_applied_pending_and_unknown_versions(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1", author="ada")
        def migrate_v1(self):
            pass

    before = migrations.status(BookMigration, dsn)[0]
    assert (before.table_exists, before.applied, before.pending) == (False, [], ["v1"])

    migrations.apply(BookMigration, dsn)

    class BookMigrationNow(MigrationModel):
        _model = Books

        @info(version="v2")
        def migrate_v2(self):
            pass

    after = migrations.status(BookMigrationNow, dsn)[0]
    assert after.table_exists
    assert [(r.version, r.author) for r in after.applied] == [("v1", "ada")]
    assert (after.pending, after.unknown) == (["v2"], ["v1"])
    assert "pending  v2" in "\n".join(after.lines())


# --- the seed's usage and the examples -----------------------------------------------------------


def test_the_seeds_shape_works_with_the_module_db(dsn):
    """``um = UserMigration(); with db.transaction(): um.auto_migrate()``, as the seed wrote."""
    migrations.db.initialize(migrations.connect(dsn))
    try:

        class BookMigration(MigrationModel):
            _model = Books

            @info(version="v1", author="songcser", datetime="2018-01-10")
            def migrate_v1(self):
                migrate(self.add_index("title"))

        um = BookMigration()
        with migrations.db.transaction():
            report = um.auto_migrate()
    finally:
        migrations.db.close()
        migrations.db.initialize(None)

    assert report.created and [a.version for a in report.applied] == ["v1"]
    assert records(dsn, "books") == [("v1", "songcser")]


EXAMPLES = ["examples.users", "examples.cities", "examples.roles"]


def test_the_example_services_migrate_a_fresh_database_then_do_nothing(dsn):
    first = migrations.apply(EXAMPLES, dsn)
    second = migrations.apply(EXAMPLES, dsn)

    assert {m.table for m in first.models} == {"users", "cities", "roles"}
    assert all(m.created and m.applied for m in first.models)
    assert second.applied == 0
    assert all(not s.pending for s in migrations.status(EXAMPLES, dsn))
    assert {"users_city_id", "users_role_id"} <= indexes(dsn, "users")
    with pytest.raises(psycopg.errors.CheckViolation):
        query(dsn, "INSERT INTO cities (name) VALUES ('')")
