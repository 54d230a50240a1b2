"""Migrations against the real PostgreSQL: order, transactions, records, locking, helpers."""

from __future__ import annotations

import datetime
import threading
import time
import uuid

import peewee
import psycopg
import pytest
from playhouse.postgres_ext import DateTimeTZField

from sanic_ms import migrations
from sanic_ms.migrations import (
    MigrationDefinitionError,
    MigrationError,
    MigrationModel,
    info,
    migrate,
)


@pytest.fixture
def dsn(schema_dsn):
    """The session database, seen through a schema of this test's own (sanic_ms.testing)."""
    return schema_dsn


def query(dsn, sql, params=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def columns(dsn, table):
    rows = query(
        dsn,
        "SELECT column_name, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    )
    return dict(rows)


def indexes(dsn, table):
    rows = query(
        dsn,
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
        (table,),
    )
    return {name for (name,) in rows}


def records(dsn, table):
    return query(
        dsn,
        "SELECT version, author FROM migrate_record WHERE table_name = %s ORDER BY id",
        (table,),
    )


class Books(peewee.Model):
    title = peewee.CharField(max_length=100)
    pages = peewee.IntegerField(null=True)
    isbn = peewee.CharField(max_length=20, null=True)

    class Meta:
        table_name = "books"


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


# --- two runners at once -------------------------------------------------------------------------


def test_two_runners_at_once_apply_each_version_exactly_once(dsn):
    inside, proceed = threading.Event(), threading.Event()
    query(dsn, "CREATE TABLE effects (version text)")

    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            self.database.execute_sql("INSERT INTO effects VALUES ('v1')")
            inside.set()
            # Hold the first runner inside v1 until the second is seen waiting for the lock.
            assert proceed.wait(20)

        @info(version="v2")
        def migrate_v2(self):
            self.database.execute_sql("INSERT INTO effects VALUES ('v2')")

    results: dict[str, object] = {}

    def run(name):
        try:
            results[name] = migrations.apply(BookMigration, dsn)
        except Exception as exc:  # reported through results, asserted below
            results[name] = exc

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert inside.wait(20)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    waiting = []
    for _ in range(200):
        waiting = query(dsn, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        if waiting:
            break
        time.sleep(0.05)
    proceed.set()
    first.join(20)
    second.join(20)

    assert waiting, "the second runner never waited for the advisory lock"
    assert results["first"].applied == 2
    assert results["second"].applied == 0 and results["second"].waited
    assert query(dsn, "SELECT version FROM effects ORDER BY version") == [("v1",), ("v2",)]
    assert records(dsn, "books") == [("v1", None), ("v2", None)]


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


def test_renaming_a_models_own_table_away_is_refused(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.rename_table("books", "volumes"))

    with pytest.raises(MigrationError, match="own table away"):
        migrations.apply(BookMigration, dsn)


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


def test_rename_column_refuses_when_neither_column_exists(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.rename_column("nope", "also_nope"))

    with pytest.raises(MigrationError, match="neither exists"):
        migrations.apply(BookMigration, dsn)


def test_add_column_of_an_unknown_field_is_a_clear_error(dsn):
    class BookMigration(MigrationModel):
        _model = Books

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.add_column("author"))

    with pytest.raises(MigrationError, match="Books has no field 'author'; pass field="):
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


# --- SQL defaults for the callables models use ----------------------------------------------------


class Visits(peewee.Model):
    """The seed's style: ids and timestamps filled in by Python callables."""

    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    code = peewee.CharField(max_length=36, default=uuid.uuid4)
    name = peewee.CharField(max_length=40)
    create_time = peewee.DateTimeField(default=datetime.datetime.utcnow)  # the seed's Users
    local_time = peewee.DateTimeField(default=datetime.datetime.now)
    seen_at = DateTimeTZField(default=datetime.datetime.utcnow)
    day = peewee.DateField(default=datetime.date.today)
    stamp = peewee.TimestampField()  # peewee's own default: datetime.now, as epoch seconds
    note = peewee.TextField(default=lambda: "no SQL for a lambda", null=True)

    class Meta:
        table_name = "visits"


class VisitMigration(MigrationModel):
    _model = Visits


def test_a_raw_insert_leaving_out_callable_defaults_gets_them_from_sql(dsn):
    VisitMigration(migrations.connect(dsn)).auto_migrate()

    row = query(dsn, "INSERT INTO visits (name) VALUES ('ada') RETURNING *")[0]
    utc_now, local_now, today = query(
        dsn, "SELECT now() AT TIME ZONE 'UTC', LOCALTIMESTAMP, CURRENT_DATE"
    )[0]

    id_, code, name, create_time, local_time, seen_at, day, stamp, note = row
    assert isinstance(id_, uuid.UUID) and id_.version == 4
    assert uuid.UUID(code).version == 4 and len(code) == 36
    assert abs(create_time - utc_now) < datetime.timedelta(seconds=5)
    assert abs(local_time - local_now) < datetime.timedelta(seconds=5)
    assert abs(seen_at - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=30)
    assert day == today
    assert abs(stamp - time.time()) < 30
    assert (name, note) == ("ada", None)  # an arbitrary callable has no SQL equivalent
    # Two rows get two ids: the default is evaluated per row, not once at CREATE TABLE.
    second = query(dsn, "INSERT INTO visits (name) VALUES ('bob') RETURNING id")[0][0]
    assert second != id_


def test_the_model_itself_is_left_as_it_was():
    before = {name: f.constraints for name, f in Visits._meta.fields.items()}

    statements = migrations.create_table_sql([Visits])

    assert "DEFAULT (CURRENT_TIMESTAMP AT TIME ZONE 'UTC')" in statements[0]
    assert "DEFAULT gen_random_uuid()" in statements[0]
    assert {name: f.constraints for name, f in Visits._meta.fields.items()} == before


def test_a_default_the_model_declares_in_sql_is_kept():
    class Stamped(peewee.Model):
        at = peewee.DateTimeField(
            default=datetime.datetime.utcnow, constraints=[peewee.SQL("DEFAULT now()")]
        )

    (create,) = migrations.create_table_sql([Stamped])
    assert "DEFAULT now()" in create and "AT TIME ZONE" not in create


def test_a_column_added_later_gets_its_sql_default_too(dsn):
    query(dsn, "CREATE TABLE visits (id uuid PRIMARY KEY, name varchar(40) NOT NULL)")
    query(dsn, "INSERT INTO visits VALUES (gen_random_uuid(), 'old')")

    class AddTime(MigrationModel):
        _model = Visits

        @info(version="v1")
        def migrate_v1(self):
            migrate(self.add_column("create_time"), self.add_column("code"))

    AddTime(migrations.connect(dsn)).auto_migrate()
    rows = query(dsn, "INSERT INTO visits (id, name) VALUES (gen_random_uuid(), 'new') RETURNING *")

    assert rows[0][2] is not None and rows[0][3] is not None
    assert query(dsn, "SELECT count(*) FROM visits WHERE create_time IS NULL") == [(0,)]
