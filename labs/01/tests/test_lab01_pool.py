"""Lab 01: the connection pool in labs/01/db.py, against a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from sanic_ms import create_app, errors


@pytest.fixture
async def database(student, database_url):
    """The student's Database on a fresh database: at most 2 connections, 0.3 s to get one."""
    db_module = student.load("db.py")
    db = db_module.Database(database_url, min_size=1, max_size=2, acquire_timeout=0.3)
    await db.connect()
    yield db
    await db.close()


@pytest.fixture
async def table(database_url):
    """An empty table of accounts, made and dropped with a plain asyncpg connection."""
    name = f"accounts_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url)
    await conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, owner text, balance int)")
    yield name
    await conn.execute(f"DROP TABLE {name}")
    await conn.close()


async def count(database_url, table):
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
async def test_fetch_returns_a_list_of_plain_dicts(student, database_url):
    raw = await asyncpg.connect(database_url)
    try:
        conn = student.load("db.py").Connection(raw)
        rows = await conn.fetch(
            "SELECT * FROM (VALUES (1, 'ada'), (2, 'bob')) AS t(id, name) ORDER BY id"
        )
    finally:
        await raw.close()
    assert isinstance(rows, list), f"fetch() should return a list, it returned {rows!r}"
    assert [type(row) for row in rows] == [dict, dict], (
        f"fetch() should turn each asyncpg Record into a plain dict, got {rows!r}"
    )
    assert rows == [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]


@pytest.mark.task(1)
async def test_fetchrow_returns_one_dict_or_none(student, database_url):
    raw = await asyncpg.connect(database_url)
    try:
        conn = student.load("db.py").Connection(raw)
        row = await conn.fetchrow("SELECT $1::int AS id, $2::text AS name", 7, "ada")
        missing = await conn.fetchrow("SELECT 1 AS id WHERE false")
    finally:
        await raw.close()
    assert type(row) is dict and row == {"id": 7, "name": "ada"}, (
        f"fetchrow() should return the one row as a dict, it returned {row!r}"
    )
    assert missing is None, f"fetchrow() of no rows should return None, it returned {missing!r}"


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
async def test_acquire_lends_a_working_connection(database):
    async with database.acquire() as conn:
        answer = await conn.fetchval("SELECT 41 + 1")
    assert answer == 42, f"a query on the borrowed connection should work, got {answer!r}"


@pytest.mark.task(2)
async def test_connection_goes_back_to_the_pool_even_after_an_error(database):
    # The pool holds 2 connections: borrowing 5 times in a row only works if each one comes back.
    for attempt in range(5):
        with pytest.raises(ValueError):
            async with database.acquire() as conn:
                await conn.fetchval("SELECT 1")
                raise ValueError(f"the handler failed on attempt {attempt}")
    try:
        async with database.acquire() as conn:
            assert await conn.fetchval("SELECT 1") == 1
    except errors.ServiceUnavailable:
        pytest.fail(
            "After 5 borrowed connections whose blocks raised, the pool of 2 was empty: "
            "a connection must go back to the pool in a `finally:`, also when the block raises."
        )


@pytest.mark.task(2)
async def test_an_empty_pool_answers_503_through_the_app(student, database_url, serve):
    student.plug("db.py")
    settings = {
        "DATABASE_URL": database_url,
        "DB_MIN_SIZE": 1,
        "DB_MAX_SIZE": 1,
        "DB_ACQUIRE_TIMEOUT": 0.2,
    }
    app = create_app("lab01-pool", settings)
    held, release = asyncio.Event(), asyncio.Event()

    @app.get("/hold")
    async def hold(request):
        async with request.app.ctx.db.acquire(request) as conn:
            held.set()
            await release.wait()
            return await conn.fetchval("SELECT 1")

    @app.get("/answer")
    async def answer(request):
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchval("SELECT 42")

    async with serve(app) as served:
        holder = asyncio.create_task(served.get("/hold"))
        holding = asyncio.create_task(held.wait())
        try:
            # Until /hold holds the connection (or has already failed: then the test fails below).
            await asyncio.wait({holder, holding}, timeout=3, return_when=asyncio.FIRST_COMPLETED)
            busy = await served.get("/answer")
        finally:
            release.set()
            holding.cancel()
            first = await holder
        later = await served.get("/answer")
    assert first.status == 200, f"GET /hold should succeed, got {first}"
    assert busy.status == 503, (
        "While the only connection is in use, GET /answer should wait DB_ACQUIRE_TIMEOUT "
        f"(0.2 s) and then answer 503 Service Unavailable. It answered {busy}"
    )
    assert busy.body["code"] != 0 and busy.body.get("message"), (
        f"the 503 should be an error envelope with a code and a message, got {busy.body!r}"
    )
    assert later.status == 200 and later.body == {"code": 0, "data": 42}, (
        f"once /hold gave its connection back, GET /answer should work again, got {later}"
    )


# ---------------------------------------------------------------------------------------- task 3


@pytest.mark.task(3)
async def test_transaction_commits_when_the_block_succeeds(database, database_url, table):
    async with database.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} (owner, balance) VALUES ($1, $2)", "ada", 10)
        await conn.execute(f"INSERT INTO {table} (owner, balance) VALUES ($1, $2)", "bob", 5)
    assert await count(database_url, table) == 2, (
        "after a transaction block that finished without error, its 2 rows should be committed"
    )


@pytest.mark.task(3)
async def test_transaction_rolls_back_and_reraises_on_error(database, database_url, table):
    with pytest.raises(ValueError, match="transfer refused"):
        async with database.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} (owner, balance) VALUES ($1, $2)", "ada", 10)
            raise ValueError("transfer refused")
    rows = await count(database_url, table)
    assert rows == 0, (
        f"a transaction whose block raised should be rolled back, but {rows} row(s) were saved"
    )
    # The connection went back to the pool, out of the failed transaction.
    async with database.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} (owner, balance) VALUES ($1, $2)", "bob", 5)
    assert await count(database_url, table) == 1
