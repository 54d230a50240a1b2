"""The pool: dict records, transactions that commit or roll back, and database trouble as 503/504."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest

from grader.postgres import create_database, drop_database
from sanic_ms import create_app, errors
from sanic_ms.db import Database, DatabaseUnavailable
from sanic_ms.errors import Conflict
from sanic_ms.serve import serve


@pytest.fixture
async def db(database_url):
    database = await Database(database_url, max_size=3, acquire_timeout=0.5).connect()
    async with database.acquire() as conn:
        await conn.execute("DROP TABLE IF EXISTS items")
        await conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL UNIQUE)")
    yield database
    await database.close()


async def names(db) -> list[str]:
    async with db.acquire() as conn:
        return [r["name"] for r in await conn.fetch("SELECT name FROM items ORDER BY id")]


async def test_records_come_back_as_dicts(db):
    async with db.acquire() as conn:
        await conn.executemany("INSERT INTO items (name) VALUES ($1)", [("a",), ("b",)])
        rows = await conn.fetch("SELECT id, name FROM items ORDER BY id")
        one = await conn.fetchrow("SELECT name FROM items WHERE name = $1", "b")
        missing = await conn.fetchrow("SELECT name FROM items WHERE name = $1", "zzz")
        count = await conn.fetchval("SELECT count(*) FROM items")
    assert [type(r) for r in rows] == [dict, dict]
    assert [r["name"] for r in rows] == ["a", "b"]
    assert one == {"name": "b"}
    assert missing is None
    assert count == 2


async def test_transaction_commits_on_success(db):
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO items (name) VALUES ('kept')")
    assert await names(db) == ["kept"]


async def test_transaction_rolls_back_when_the_block_raises(db):
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO items (name) VALUES ('lost')")
            raise RuntimeError("boom")
    assert await names(db) == []


async def test_acquire_is_not_a_transaction(db):
    with pytest.raises(RuntimeError):
        async with db.acquire() as conn:
            await conn.execute("INSERT INTO items (name) VALUES ('autocommitted')")
            raise RuntimeError("after the insert")
    assert await names(db) == ["autocommitted"]


async def test_a_failed_commit_is_raised_not_swallowed(db):
    async with db.acquire() as conn:
        await conn.execute("DROP TABLE IF EXISTS pairs")
        await conn.execute(
            "CREATE TABLE pairs (id int PRIMARY KEY, "
            "CONSTRAINT uniq_late UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    # The duplicate is only detected at COMMIT, after the block ran without error.
    with pytest.raises(Conflict) as caught:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO pairs VALUES (1), (1)")
    assert caught.value.status_code == 409
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pairs") == 0


async def test_constraint_violation_is_a_409_naming_the_constraint(db):
    async with db.acquire() as conn:
        await conn.execute("INSERT INTO items (name) VALUES ('dup')")
        with pytest.raises(Conflict) as caught:
            await conn.execute("INSERT INTO items (name) VALUES ('dup')")
    assert caught.value.error["constraint"] == "items_name_key"


async def test_a_table_not_migrated_yet_is_a_503_saying_to_migrate(db):
    with pytest.raises(errors.ServiceUnavailable) as caught:
        async with db.acquire() as conn:
            await conn.fetch("SELECT id FROM never_migrated")
    assert 'relation "never_migrated" does not exist' in caught.value.message
    assert "migrate" in caught.value.error["hint"]


async def test_pool_exhaustion_waits_then_answers_503(database_url):
    database = await Database(database_url, max_size=1, acquire_timeout=0.2).connect()
    try:
        async with database.acquire():
            with pytest.raises(errors.ServiceUnavailable) as caught:
                async with database.acquire():
                    pass
        assert caught.value.status_code == 503
        assert caught.value.error == {"pool_size": 1, "waited_s": 0.2}
        async with database.acquire() as conn:  # released: usable again
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await database.close()


async def test_pool_exhaustion_over_http_is_a_503_envelope(database_url):
    app = create_app(
        "pooltest",
        {
            "DATABASE_URL": database_url,
            "DB_MAX_SIZE": 1,
            "DB_MIN_SIZE": 1,
            "DB_ACQUIRE_TIMEOUT": 0.2,
        },
    )
    release = asyncio.Event()

    @app.get("/hold")
    async def hold(request):
        async with request.app.ctx.db.acquire(request) as conn:
            await release.wait()
            return await conn.fetchval("SELECT 1")

    async with serve(app) as url, aiohttp.ClientSession() as session:
        holder = asyncio.create_task(session.get(url + "/hold"))
        await asyncio.sleep(0.1)
        async with session.get(url + "/hold") as response:
            body = await response.json()
        release.set()
        first = await holder
        assert first.status == 200
        first.release()
    assert response.status == 503
    assert body["code"] == 503 and "no connection free" in body["message"]


async def test_statement_timeout_is_a_504_and_the_statement_is_cancelled(database_url):
    database = await Database(database_url, max_size=1, command_timeout=0.2).connect()
    try:
        with pytest.raises(errors.GatewayTimeout):  # out of the block, as from a handler
            async with database.acquire() as conn:
                before = await conn.fetchval("SELECT pg_backend_pid()")
                await conn.fetchval("SELECT pg_sleep(5)")
        async with database.acquire() as conn:
            after = await conn.fetchval("SELECT pg_backend_pid()")
        admin = await asyncpg.connect(database_url)
        try:
            sleeping = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5)' "
                "AND state = 'active' AND datname = current_database()"
            )
        finally:
            await admin.close()
    finally:
        await database.close()
    # Cancelled on the server, and the same connection serves the next request (not a new one
    # beside a backend left running the statement).
    assert after == before
    assert sleeping == 0


async def test_startup_names_the_unreachable_database_with_the_password_masked():
    database = Database("postgresql://app:s3cret@127.0.0.1:1/nowhere", acquire_timeout=1)
    with pytest.raises(DatabaseUnavailable) as caught:
        await database.connect()
    message = str(caught.value)
    assert "postgresql://app:***@127.0.0.1:1/nowhere" in message
    assert "s3cret" not in message


async def test_connections_killed_by_a_restart_fail_then_the_pool_recovers(database_url):
    app = create_app("restart", {"DATABASE_URL": database_url, "DB_MIN_SIZE": 2, "DB_MAX_SIZE": 2})

    @app.get("/one")
    async def one(request):
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchval("SELECT 1")

    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/one") as response:
            assert response.status == 200
        # What a server restart does to a pool: every backend it holds is gone.
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        statuses = []
        for _ in range(4):
            async with session.get(url + "/one") as response:
                statuses.append(response.status)
                body = await response.json()
                if response.status != 200:
                    assert body["code"] == 503 and body["message"] == "Database unavailable"
        assert statuses[-1] == 200, statuses  # recovered without restarting the app
        assert set(statuses) <= {200, 503}


async def test_readonly_reads_go_to_the_replica_when_configured(database_url):
    replica = await create_database("test_replica")
    try:
        conn = await asyncpg.connect(replica)
        await conn.execute("CREATE TABLE whoami (name text); INSERT INTO whoami VALUES ('replica')")
        await conn.close()
        database = await Database(database_url, replica_dsn=replica).connect()
        try:
            async with database.acquire(readonly=True) as conn:
                assert await conn.fetchval("SELECT name FROM whoami") == "replica"
            async with database.acquire() as conn:
                assert await conn.fetchval("SELECT to_regclass('whoami')") is None
        finally:
            await database.close()
        primary_only = await Database(database_url).connect()
        try:  # without a replica, readonly reads use the primary
            async with primary_only.acquire(readonly=True) as conn:
                assert await conn.fetchval("SELECT to_regclass('whoami')") is None
        finally:
            await primary_only.close()
    finally:
        await drop_database(replica)
