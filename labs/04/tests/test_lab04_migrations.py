"""Lab 04: versioned migrations (labs/04/model.py) against a real PostgreSQL schema."""

from __future__ import annotations

import datetime as dt
import re

import peewee
import psycopg
import pytest

from sanic_ms.migrations import connect


@pytest.fixture
def dsn(schema_dsn):
    """The session database, seen through a schema of this test's own (sanic_ms.testing)."""
    return schema_dsn


def query(dsn, sql, params=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def recorded(dsn, table):
    rows = query(dsn, "SELECT version FROM migrate_record WHERE table_name = %s ORDER BY id", (table,))
    return [version for (version,) in rows]


class Notes(peewee.Model):
    text = peewee.TextField()

    class Meta:
        table_name = "notes"


def note_migrations(m, ran, fail_at=None):
    """A migration class for Notes written with the student's module ``m``."""

    class NoteMigration(m.MigrationModel):
        _model = Notes

        @m.info(version="v10", author="ada")
        def migrate_v10(self):
            ran.append("v10")
            return self.sql("INSERT INTO notes (text) VALUES ('v10 was here')")

        @m.info(version="v2", author="bob")
        def migrate_v2(self):
            ran.append("v2")
            self.database.execute_sql("INSERT INTO notes (text) VALUES ('v2 was here')")
            if fail_at == "v2":
                raise RuntimeError("the migration broke half way")

        @m.info(version="v1")
        def migrate_v1(self):
            ran.append("v1")
            return self.add_index("text")

    return NoteMigration


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
def test_versions_sort_naturally(student):
    m = student.load("model.py")
    versions = ["v10", "v2", "v1", "v1a", "2024-05-01", "2024-04-30"]
    got = sorted(versions, key=m.natural_key)
    assert got == ["2024-04-30", "2024-05-01", "v1", "v1a", "v2", "v10"], (
        f"natural order puts v2 before v10 (numbers compare as numbers); sorted gave {got}"
    )


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
def test_info_marks_the_method_with_its_version(student):
    m = student.load("model.py")

    @m.info(version="v3", author="ada", datetime="2024-05-01")
    def migrate_v3(self):
        pass

    assert callable(migrate_v3) and migrate_v3.__name__ == "migrate_v3", (
        "@info(...) must return a decorator that returns the method itself (`return fn`); the "
        f"decorated name now holds {migrate_v3!r}"
    )
    meta = getattr(migrate_v3, "__migration__", None)
    assert meta is not None, "@info(...) should set fn.__migration__ on the decorated method"
    got = (meta.version, meta.author, meta.datetime)
    assert got == ("v3", "ada", dt.datetime(2024, 5, 1)), (
        "@info(version='v3', author='ada', datetime='2024-05-01') should record "
        f"Info('v3', 'ada', datetime(2024, 5, 1)); __migration__ holds {got}"
    )


@pytest.mark.task(2)
def test_info_refuses_a_missing_or_blank_version(student):
    m = student.load("model.py")
    for bad in (None, "", "  v1", 3):
        refuses(m, f"@info(version={bad!r})", version=bad)
    try:

        @m.info
        def migrate_v1(self):
            pass

    except m.MigrationDefinitionError:
        return
    pytest.fail("bare @info (no version) should raise MigrationDefinitionError", pytrace=False)


def refuses(m, written, **kwargs):
    try:
        m.info(**kwargs)
    except m.MigrationDefinitionError:
        return
    pytest.fail(f"{written} should raise MigrationDefinitionError", pytrace=False)


@pytest.mark.task(2)
def test_info_refuses_a_long_version_and_an_author_that_is_not_text(student):
    m = student.load("model.py")
    refuses(m, "@info(version=<65 characters>) (at most 64 fit in the record)", version="v" * 65)
    m.info(version="v" * 64)  # 64 is fine
    refuses(m, "@info(version='v1', author=42) (an author is a string)", version="v1", author=42)


# ---------------------------------------------------------------------------------------- task 3


@pytest.mark.task(3)
def test_auto_migrate_creates_the_table_and_runs_versions_in_order(student, dsn):
    m = student.load("model.py")
    ran = []
    database = connect(dsn)
    report = note_migrations(m, ran)(database).auto_migrate()
    assert ran == ["v1", "v2", "v10"], f"versions should run in natural order; they ran {ran}"
    assert recorded(dsn, "notes") == ["v1", "v2", "v10"], (
        f"each applied version gets a migrate_record row; recorded {recorded(dsn, 'notes')}"
    )
    texts = sorted(text for (text,) in query(dsn, "SELECT text FROM notes"))
    assert texts == ["v10 was here", "v2 was here"], f"the notes table holds {texts}"
    assert report.created, "the report should say the table was created (report.created)"
    applied = [a.version for a in report.applied]
    assert applied == ["v1", "v2", "v10"], (
        f"the report should list the applied versions in order; report.applied: {applied}"
    )
    database.close()


@pytest.mark.task(3)
def test_a_second_run_applies_nothing(student, dsn):
    m = student.load("model.py")
    ran = []
    database = connect(dsn)
    note_migrations(m, ran)(database).auto_migrate()
    again = note_migrations(m, ran)(database).auto_migrate()
    assert ran == ["v1", "v2", "v10"] and again.applied == [], (
        f"a version already in migrate_record must not run again; runs: {ran}"
    )
    rows = query(dsn, "SELECT count(*) FROM notes")
    assert rows == [(2,)], f"a second run must not insert again; the notes table counts {rows}"
    database.close()


@pytest.mark.task(3)
def test_a_failing_version_is_rolled_back_with_nothing_recorded(student, dsn):
    m = student.load("model.py")
    ran = []
    database = connect(dsn)
    try:
        note_migrations(m, ran, fail_at="v2")(database).auto_migrate()
    except m.MigrationError as exc:
        assert re.search(r"\bv2\b", str(exc)), (
            "the MigrationError should name the version that failed (v2), e.g. "
            f"'NoteMigration v2 (migrate_v2) failed and was rolled back: ...'; it said {exc}"
        )
    except Exception as exc:
        pytest.fail(
            "a failing version should raise MigrationError (wrapping the original); "
            f"auto_migrate raised {type(exc).__name__}: {exc}",
            pytrace=False,
        )
    else:
        pytest.fail("v2 raised, but auto_migrate() did not raise MigrationError", pytrace=False)
    assert recorded(dsn, "notes") == ["v1"], (
        "v1 succeeded and stays recorded; v2 failed, so neither its record nor its insert may "
        f"remain and v10 must not run. Recorded: {recorded(dsn, 'notes')}"
    )
    rows = query(dsn, "SELECT count(*) FROM notes")
    assert rows == [(0,)], (
        f"v2's insert was not rolled back (each version runs in its own transaction): {rows}"
    )
    assert ran == ["v1", "v2"], f"v10 must not run after v2 failed; ran {ran}"
    database.close()
