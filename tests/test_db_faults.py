"""Database faults under concurrent load: each is its own envelope (503/504/409/400), never a 500.

Every test serves a small app built with sanic_ms on its own database (and role), drives it over
loopback HTTP from several clients at once, injects a fault the way an operator or an outage would,
and then checks that the same app answers 200 again without a restart.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from sanic_ms import create_app, errors
from sanic_ms.db import translate
from sanic_ms.postgres import create_database, drop_database, resolve
from sanic_ms.serve import serve

SCHEMA = """
CREATE TABLE owners (id int PRIMARY KEY);
CREATE TABLE items (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    price int CHECK (price >= 0),
    owner_id int REFERENCES owners (id)
);
INSERT INTO owners VALUES (1);
INSERT INTO items (name, price, owner_id) VALUES ('seed', 1, 1);
"""


@dataclass
class Answer:
    status: int
    body: dict
    seconds: float


@pytest.fixture
async def faults_db():
    """A database of its own (its backends are counted by name), with items and owners."""
    dsn = await create_database("test_faults")
    await run_script(dsn, SCHEMA)
    yield dsn
    await drop_database(dsn)


def build_app(dsn: str, **settings):
    app = create_app(
        f"faults-{uuid.uuid4().hex[:8]}",
        {"DATABASE_URL": dsn, "DB_MIN_SIZE": 1, "LOG_LEVEL": "CRITICAL", **settings},
    )

    @app.get("/count")
    async def count(request):
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchval("SELECT count(*) FROM items")

    @app.get("/slow")
    async def slow(request):  # long enough that a terminated backend is often mid-query
        async with request.app.ctx.db.acquire(request) as conn:
            await conn.execute("SELECT pg_sleep(0.05)")
            return await conn.fetchval("SELECT count(*) FROM items")

    @app.get("/hold")
    async def hold(request):  # keeps the connection while the handler does something else
        async with request.app.ctx.db.acquire(request) as conn:
            await asyncio.sleep(float(request.args.get("seconds", "0.3")))
            return await conn.fetchval("SELECT 1")

    @app.post("/items")
    async def add(request):
        item = request.ctx.data
        async with request.app.ctx.db.transaction(request) as conn:
            return await conn.fetchrow(
                "INSERT INTO items (name, price, owner_id) VALUES ($1, $2, $3) RETURNING id",
                item.get("name"),
                item.get("price"),
                item.get("owner_id"),
            )

    return app


async def call(session, url, method="GET", **kwargs) -> Answer:
    started = time.monotonic()
    async with session.request(method, url, **kwargs) as response:
        body = await response.json(content_type=None)
        return Answer(response.status, body, time.monotonic() - started)


async def hammer(session, url, stop: asyncio.Event, clients: int = 8) -> list[Answer]:
    """``clients`` loops calling ``url`` until ``stop`` is set; every answer, in order."""
    answers: list[Answer] = []

    async def client():
        while not stop.is_set():
            answers.append(await call(session, url))

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


async def eventually_ok(session, url, within: float = 10.0) -> Answer:
    """The first 200 from ``url``: the app recovered by itself (fails after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        answer = await call(session, url)
        if answer.status == 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


def assert_only(answers: list[Answer], allowed: set[int], message: str) -> None:
    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= allowed, f"{message}: {dict(statuses)}; e.g. " + str(
        next((a.body for a in answers if a.status not in allowed), None)
    )


def assert_envelope(answer: Answer, status: int, message: str) -> None:
    assert answer.status == status, answer
    assert answer.body["code"] == status and answer.body["message"] == message, answer.body


async def admin(sql: str, *args, dsn: str | None = None) -> list[asyncpg.Record]:
    """Rows of one statement run as the superuser (on the server's maintenance database)."""
    conn = await asyncpg.connect(dsn or resolve(verbose=False).dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def run_script(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


async def test_a_dropped_database_is_503_until_it_is_back(faults_db):
    app = build_app(faults_db, DB_MAX_SIZE=4, DB_ACQUIRE_TIMEOUT=2.0)
    name = database_name(faults_db)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        assert (await call(session, url + "/count")).status == 200
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(session, url + "/slow", stop))
        await asyncio.sleep(0.3)
        await admin(f'DROP DATABASE "{name}" WITH (FORCE)')
        await asyncio.sleep(1.0)
        stop.set()
        answers = await load
        missing = [a for a in answers if a.status != 200]
        assert_only(answers, {200, 503}, "a dropped database answered")
        assert missing, "no request noticed the database was gone"
        for answer in missing:
            # New connections wait while PostgreSQL drops the database: some run out of time.
            assert answer.body["code"] == 503 and answer.body["message"] in {
                "Database unavailable",
                "Database busy: no connection free in time",
            }, answer
        slowest = max(a.seconds for a in missing)
        assert slowest < 2.0 + 0.5, f"a 503 took {slowest:.2f} s; DB_ACQUIRE_TIMEOUT is 2 s"
        # Put it back: the same app serves again, with no restart.
        await admin(f'CREATE DATABASE "{name}"')
        await run_script(faults_db, SCHEMA)
        answer = await eventually_ok(session, url + "/count")
        assert answer.status == 200 and answer.body["data"] == 1, answer


async def test_backends_terminated_under_load_are_503_and_the_pool_heals(faults_db):
    app = build_app(faults_db, DB_MIN_SIZE=4, DB_MAX_SIZE=4)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(session, url + "/slow", stop, clients=12))
        killed = 0
        for _ in range(6):
            await asyncio.sleep(0.25)
            rows = await admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database_name(faults_db),
            )
            killed += len(rows)
        await asyncio.sleep(0.25)
        stop.set()
        answers = await load
        assert killed >= 6, "the fault was not injected"
        assert_only(answers, {200, 503}, "terminated backends answered")
        for answer in answers:
            if answer.status == 503:
                assert_envelope(answer, 503, "Database unavailable")
        assert Counter(a.status for a in answers)[200] > len(answers) // 2
        assert (await eventually_ok(session, url + "/count")).status == 200


async def test_a_role_out_of_connections_is_503_and_recovers(faults_db):
    role = f"test_faults_{uuid.uuid4().hex[:8]}"
    await admin(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 2')
    try:
        await admin(f'GRANT SELECT ON items TO "{role}"', dsn=faults_db)
        parts = urlsplit(faults_db)
        as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))
        # The pool may open 6, the server lets this role have 2: the other 4 are refused.
        app = build_app(as_role, DB_MAX_SIZE=6, DB_ACQUIRE_TIMEOUT=2.0)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(call(session, url + "/hold?seconds=0.5") for _ in range(8))
            )
            assert_only(answers, {200, 503}, "a role out of connections answered")
            refused = [a for a in answers if a.status == 503]
            assert refused and Counter(a.status for a in answers)[200] >= 2, answers
            for answer in refused:
                assert_envelope(answer, 503, "Database unavailable")
                assert "TooManyConnectionsError" in answer.body["error"]["reason"]
                assert answer.seconds < 2.0, answer
            assert (await eventually_ok(session, url + "/count")).status == 200
    finally:
        await drop_database(faults_db)  # the role's connections and grants go with it
        await admin(f'DROP ROLE IF EXISTS "{role}"')


async def lock_items(dsn: str, ready: asyncio.Event, release: asyncio.Event) -> None:
    """Hold an ACCESS EXCLUSIVE lock on items until ``release``: every read of it waits."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            ready.set()
            await release.wait()
    finally:
        await conn.close()


async def service_backends(dsn: str) -> list[asyncpg.Record]:
    """The database's backends other than ours and the lock holder's (which idles in a transaction)."""
    return await admin(
        "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE datname = $1 "
        "AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle in transaction'",
        database_name(dsn),
    )


async def test_queries_stuck_on_a_lock_are_cancelled_and_backends_stay_within_the_pool(faults_db):
    pool_size, budget = 3, 1.0
    app = build_app(
        faults_db, DB_MAX_SIZE=pool_size, DB_COMMAND_TIMEOUT=0.8, DB_REQUEST_TIMEOUT=budget
    )
    ready, release = asyncio.Event(), asyncio.Event()
    async with serve(app) as url, aiohttp.ClientSession() as session:
        locker = asyncio.create_task(lock_items(faults_db, ready, release))
        await ready.wait()
        stop = asyncio.Event()
        load = asyncio.create_task(hammer(session, url + "/count", stop, clients=10))
        most = 0
        try:
            for _ in range(40):  # 4 s of load against the locked table
                await asyncio.sleep(0.1)
                most = max(most, len(await service_backends(faults_db)))
            stop.set()
            answers = await load
            await asyncio.sleep(0.5)  # the last requests' cancellations reach the server
            waiting = [
                r for r in await service_backends(faults_db) if r["wait_event_type"] == "Lock"
            ]
        finally:
            stop.set()
            release.set()
            await locker
        assert most <= pool_size, f"{most} backends for a pool of {pool_size}: one was orphaned"
        assert not waiting, f"{len(waiting)} statement(s) still wait on the lock: not cancelled"
        assert_only(answers, {503, 504}, "queries stuck behind a lock answered")
        assert any(a.status == 504 for a in answers), "no statement reached its timeout"
        for answer in answers:
            if answer.status == 504:
                assert_envelope(answer, 504, "Database query timed out")
        slowest = max(a.seconds for a in answers)
        assert slowest < budget + 1.0, (
            f"a request took {slowest:.2f} s; DB_REQUEST_TIMEOUT={budget}"
        )
        answer = await eventually_ok(session, url + "/count")
        assert answer.status == 200 and answer.body["data"] == 1, answer


async def test_the_pool_wait_and_the_statement_share_one_request_budget(faults_db):
    # Each part alone may take 3 s (0.9 s waiting + 3 s locked = 3.9 s without a shared budget);
    # the request as a whole may spend 1.5 s on the database.
    app = build_app(
        faults_db,
        DB_MAX_SIZE=1,
        DB_ACQUIRE_TIMEOUT=3.0,
        DB_COMMAND_TIMEOUT=3.0,
        DB_REQUEST_TIMEOUT=1.5,
    )
    ready, release = asyncio.Event(), asyncio.Event()
    async with serve(app) as url, aiohttp.ClientSession() as session:
        locker = asyncio.create_task(lock_items(faults_db, ready, release))
        try:
            await ready.wait()
            holder = asyncio.create_task(call(session, url + "/hold?seconds=1.0"))
            await asyncio.sleep(0.1)
            waited = await call(session, url + "/count")  # ~0.9 s for the connection, then locked
            assert (await holder).status == 200
        finally:
            release.set()
            await locker
        assert_envelope(waited, 504, "Database query timed out")
        # The slack: cancelling the statement opens a connection to the server; the CPU is shared.
        assert waited.seconds < 1.5 + 1.0, f"{waited.seconds:.2f} s: the budget was not shared"
        assert (await eventually_ok(session, url + "/count")).status == 200


VIOLATIONS = [  # (what is posted, status, error field, what it names)
    ({"name": "seed", "price": 1, "owner_id": 1}, 409, "constraint", "items_name_key"),
    ({"name": "orphan", "price": 1, "owner_id": 99}, 409, "constraint", "items_owner_id_fkey"),
    ({"price": 1, "owner_id": 1}, 400, "column", "name"),
    ({"name": "negative", "price": -1, "owner_id": 1}, 400, "column", "price"),
]


async def test_constraint_violations_are_409_or_400_naming_what_failed(faults_db):
    app = build_app(faults_db, DB_MAX_SIZE=2)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        posts = [item for item, *_ in VIOLATIONS for _ in range(4)]
        answers = await asyncio.gather(
            *(call(session, url + "/items", "POST", json=item) for item in posts)
        )
        expected = [rest for _, *rest in VIOLATIONS for _ in range(4)]
        for answer, (status, field, name) in zip(answers, expected, strict=True):
            assert answer.status == status, answer
            assert answer.body["code"] == status and answer.body["error"][field] == name, answer
            assert name in answer.body["message"], answer.body
        created = await call(session, url + "/items", "POST", json={"name": "fine", "price": 2})
        assert created.status == 200, created
        assert (await call(session, url + "/count")).body["data"] == 2  # nothing half-written


async def test_a_connection_lost_inside_a_block_is_503_not_a_second_release(faults_db):
    app = build_app(faults_db, DB_MIN_SIZE=1, DB_MAX_SIZE=1)

    @app.get("/lose")
    async def lose(request):
        async with request.app.ctx.db.acquire(request) as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await admin("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.2)  # asyncpg notices, and takes the connection back itself
            return await conn.fetchval("SELECT 1")

    async with serve(app) as url, aiohttp.ClientSession() as session:
        lost = await call(session, url + "/lose")
        assert_envelope(lost, 503, "Database unavailable")
        assert "released back to the pool" in lost.body["error"]["reason"], lost.body
        answer = await call(session, url + "/count")  # the pool's only connection was replaced
        assert answer.status == 200 and answer.body["data"] == 1, answer


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
        asyncpg.DatabaseDroppedError("the database was dropped"),
        asyncpg.IdleSessionTimeoutError("terminating connection due to idle-session timeout"),
        asyncpg.ConnectionFailureError("could not receive data from client"),
        asyncpg.ClientCannotConnectError("could not connect"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InvalidCatalogNameError('database "gone" does not exist'),
        asyncpg.InterfaceError("connection is closed"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_every_connection_level_failure_is_a_503(exc):
    # The states above that a test cannot cause on a shared server (a restart, a crash).
    translated = translate(exc)
    assert isinstance(translated, errors.ServiceUnavailable), translated
    assert translated.to_dict()["message"] == "Database unavailable"


def test_a_timeout_or_a_misuse_of_asyncpg_is_not_a_lost_connection():
    assert isinstance(translate(TimeoutError()), errors.GatewayTimeout)  # an OSError since 3.3
    misuse = asyncpg.InterfaceError("the server expects 1 argument for this query, 0 were passed")
    assert translate(misuse) is misuse  # a bug: a 500 with its traceback logged, not "retry later"
