"""The migrate_record table and the advisory lock: two runners at once apply each version once."""

from __future__ import annotations

import threading
import time

from sanic_ms import migrations
from sanic_ms.migrations import MigrationModel, info
from tests.sanic_ms.migrations.support import Books, query, records

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
