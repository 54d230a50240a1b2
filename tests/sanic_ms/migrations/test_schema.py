"""SQL defaults for the callables models use (now, utcnow, today, uuid4) and CREATE TABLE."""

from __future__ import annotations

import datetime
import time
import uuid

import peewee
from playhouse.postgres_ext import DateTimeTZField

from sanic_ms import migrations
from sanic_ms.migrations import MigrationModel, info, migrate
from tests.sanic_ms.migrations.support import query

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
