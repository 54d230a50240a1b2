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
    await close_checking_for_leaks(db)


def fail_if_leaked(db):
    """Fail (task 2) when a connection is still borrowed once every request is over.

    The pool is terminated first: ``pool.close()`` would wait for the leaked connection forever.
    """
    pool = getattr(db, "pool", None)
    busy = pool.get_size() - pool.get_idle_size() if pool is not None else 0
    if busy:
        pool.terminate()
        pytest.fail(
            f"After the test, {busy} connection(s) of the pool were still borrowed: a connection "
            "was never given back to the pool: task 2. `_connection` must give it back in a "
            "`finally:` with `await pool.release(conn)` (with `await`: without it the release "
            "never runs), so it returns even when the block raises.",
            pytrace=False,
        )


async def close_checking_for_leaks(db):
    """Close the student's pool; a connection still borrowed after the test fails it (task 2)."""
    fail_if_leaked(db)
    pool = getattr(db, "pool", None)
    if pool is None:
        return
    try:
        await asyncio.wait_for(db.close(), 5)
    except TimeoutError:
        pool.terminate()
        pytest.fail("Database.close() did not finish within 5 s: it must close its pool", False)


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
    assert rows == [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}], (
        f"fetch() should return every row, in order, as a dict; got {rows!r}"
    )


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
        row = await conn.fetchrow("SELECT 42 AS answer")
    assert answer == 42, f"a query on the borrowed connection should work, got {answer!r}"
    assert type(row) is dict and row == {"answer": 42}, (
        "acquire() should lend the connection wrapped in this module's Connection (rows as "
        f"dicts, database errors translated), not the raw asyncpg one: fetchrow gave {row!r}"
    )


@pytest.mark.task(2)
async def test_connection_goes_back_to_the_pool_even_after_an_error(database):
    # The pool holds 2 connections: borrowing 5 times in a row only works if each one comes back.
    for attempt in range(1, 7):
        empty = False
        try:
            async with database.acquire() as conn:
                await conn.fetchval("SELECT 1")
                raise ValueError(f"the handler failed on attempt {attempt}")
        except ValueError:
            continue
        except errors.ServiceUnavailable:
            empty = True
        if empty:  # failed outside the `except`: no "during handling of ..." chain
            pytest.fail(
                f"Attempt {attempt} of 6 to borrow a connection answered 503: the pool of 2 was "
                f"empty after {attempt - 1} borrowed connection(s) whose blocks raised. A "
                "connection was never given back to the pool: it must go back in a `finally:` "
                "(`await pool.release(conn)`), also when the block raises.",
                pytrace=False,
            )
        pytest.fail(
            f"The ValueError raised inside `async with database.acquire()` (attempt {attempt}) "
            "did not reach the caller: `_connection` must let the block's exception through "
            "(a `finally:`, no `except` that swallows it).",
            pytrace=False,
        )
    async with database.acquire() as conn:
        value = await conn.fetchval("SELECT 1")
    assert value == 1, f"a query after the failed blocks should still work, got {value!r}"


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
            try:
                busy = await asyncio.wait_for(served.get("/answer"), 3)
            except TimeoutError:
                pytest.fail(
                    "While the only connection was in use, GET /answer was still waiting after "
                    "3 s: borrowing must give up after DB_ACQUIRE_TIMEOUT (0.2 s here, "
                    "`self.acquire_timeout`) and raise ServiceUnavailable (503).",
                    pytrace=False,
                )
        finally:
            release.set()
            holding.cancel()
            first = await holder
        later = await served.get("/answer")
        fail_if_leaked(app.ctx.db)
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
    loop = asyncio.get_running_loop()
    reported = []  # asyncpg reports a connection given back with its transaction still open
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda loop, context: reported.append(context.get("message", "")))
    try:
        async with database.transaction() as conn:
            await conn.execute(f"INSERT INTO {table} (owner, balance) VALUES ($1, $2)", "ada", 10)
            raise ValueError("transfer refused")
    except ValueError as exc:
        assert str(exc) == "transfer refused", (
            f"the block's own ValueError should reach the caller unchanged, got {exc!r}"
        )
    except Exception as exc:
        pytest.fail(
            "When the block raises ValueError, transaction() should roll back and re-raise that "
            f"same exception (a bare `raise`); the caller got {type(exc).__name__}: {exc}",
            pytrace=False,
        )
    else:
        pytest.fail(
            "The ValueError raised inside `async with database.transaction()` never reached the "
            "caller: roll back, then re-raise it with a bare `raise` (never swallow it).",
            pytrace=False,
        )
    finally:
        loop.set_exception_handler(previous)
    rows = await count(database_url, table)
    assert rows == 0, (
        f"a transaction whose block raised should be rolled back, but {rows} row(s) were saved"
    )
    left_open = [m for m in reported if "active transaction" in m]
    assert not left_open, (
        "the failed transaction was never rolled back: the connection went back to the pool "
        f"still inside it ({left_open[0]}). Call `await tx.rollback()` when the block raises."
    )
    # The connection went back to the pool, out of the failed transaction.
    async with database.transaction() as conn:
        await conn.execute(f"INSERT INTO {table} (owner, balance) VALUES ($1, $2)", "bob", 5)
    rows = await count(database_url, table)
    assert rows == 1, f"a transaction after a failed one should commit its row; {rows} saved"
