"""Database faults against a served app: statuses, latency and backends per fault (``--lock 20``).

``python -m bench.db_faults`` serves a small sanic_ms app on a database of its own, drives it from
several loopback clients and injects, one after the other: a table lock held ``--lock`` seconds,
backends terminated under load, a role out of connections, constraint violations and the database
dropped (then created again). It prints one line per phase: the statuses answered, the slowest
answer and the most backends the database had (pg_stat_activity) next to the pool's size.
``tests/sanic_ms/test_db_faults.py`` asserts the same faults with these helpers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from sanic import Sanic

from grader.postgres import create_database, drop_database, resolve
from sanic_ms import create_app
from sanic_ms.serve import serve
from sanic_ms.testing import allow_same_name_apps

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

# Our own connections (the superuser's, the lock holder's) say so: the app's backends are the rest.
OURS = {"application_name": "bench_faults"}

VIOLATIONS = [  # (what is posted, status, error field, what it names)
    ({"name": "seed", "price": 1, "owner_id": 1}, 409, "constraint", "items_name_key"),
    ({"name": "orphan", "price": 1, "owner_id": 99}, 409, "constraint", "items_owner_id_fkey"),
    ({"price": 1, "owner_id": 1}, 400, "column", "name"),
    ({"name": "negative", "price": -1, "owner_id": 1}, 400, "column", "price"),
]


@dataclass
class Answer:
    status: int
    body: dict
    seconds: float


def build_app(dsn: str, **settings) -> Sanic:
    """Reads, a slow read, a read that holds its connection, and an insert in a transaction."""
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
            await asyncio.sleep(min(float(request.args.get("seconds", "0.3")), 5.0))
            return await conn.fetchval("SELECT 1")

    @app.post("/bump")
    async def bump(request):  # a write long enough that a terminated backend often cuts it
        async with request.app.ctx.db.transaction(request) as conn:
            await conn.execute("UPDATE items SET price = price + 1 WHERE name = 'seed'")
            await conn.execute("SELECT pg_sleep(0.05)")
            return await conn.fetchval("SELECT price FROM items WHERE name = 'seed'")

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


async def call(session: aiohttp.ClientSession, url: str, method: str = "GET", **kwargs) -> Answer:
    started = time.monotonic()
    async with session.request(method, url, **kwargs) as response:
        body = await response.json(content_type=None)
        return Answer(response.status, body, time.monotonic() - started)


async def hammer(
    session, url: str, stop: asyncio.Event, clients: int = 8, method: str = "GET"
) -> list[Answer]:
    """``clients`` loops calling ``url`` until ``stop`` is set; every answer."""
    answers: list[Answer] = []

    async def client():
        while not stop.is_set():
            answers.append(await call(session, url, method))

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers


async def eventually_ok(session, url: str, within: float = 10.0) -> Answer:
    """The first 200 from ``url`` (the app recovered by itself), or the last answer after ``within``."""
    deadline = time.monotonic() + within
    while True:
        answer = await call(session, url)
        if answer.status == 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def admin(sql: str, *args, dsn: str | None = None) -> list[asyncpg.Record]:
    """Rows of one statement run as the superuser (on the server's maintenance database)."""
    conn = await asyncpg.connect(dsn or resolve(verbose=False).dsn, server_settings=OURS)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def run_script(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, server_settings=OURS)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def as_role(dsn: str, role: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


async def lock_items(dsn: str, ready: asyncio.Event, release: asyncio.Event) -> None:
    """Hold an ACCESS EXCLUSIVE lock on items until ``release``: every read of it waits."""
    conn = await asyncpg.connect(dsn, server_settings=OURS)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            ready.set()
            await release.wait()
    finally:
        await conn.close()


async def service_backends(dsn: str) -> list[asyncpg.Record]:
    """The app's backends: the database's, less ours and the lock holder's."""
    return await admin(
        "SELECT pid, state, wait_event_type FROM pg_stat_activity "
        "WHERE datname = $1 AND application_name <> $2",
        database_name(dsn),
        OURS["application_name"],
    )


async def most_backends(dsn: str, stop: asyncio.Event) -> int:
    """The most backends seen (every 0.1 s) until ``stop``."""
    most = 0
    while not stop.is_set():
        most = max(most, len(await service_backends(dsn)))
        await asyncio.sleep(0.1)
    return most


def summary(name: str, answers: list[Answer], backends: int | str = "-") -> str:
    statuses = dict(sorted(Counter(a.status for a in answers).items()))
    slowest = max((a.seconds for a in answers), default=0.0)
    return f"| {name} | {statuses} | {slowest:.2f} | {backends} |"


async def phase(session, url, dsn, seconds, fault=None, clients=8, path="/slow"):
    """Load ``path`` for ``seconds`` while ``fault()`` runs; the answers and the most backends."""
    stop = asyncio.Event()
    load = asyncio.create_task(hammer(session, url + path, stop, clients))
    watch = asyncio.create_task(most_backends(dsn, stop))
    try:
        if fault is not None:
            await fault()
        else:
            await asyncio.sleep(seconds)
    finally:
        stop.set()
    return await load, await watch


async def run(lock_seconds: float, pool_size: int, budget: float) -> None:
    dsn = await create_database("bench_faults")
    role = f"bench_faults_{uuid.uuid4().hex[:8]}"
    try:
        await run_script(dsn, SCHEMA)
        # DB_COMMAND_TIMEOUT = budget too: code without DB_REQUEST_TIMEOUT times out as well.
        settings = dict(DB_MAX_SIZE=pool_size, DB_COMMAND_TIMEOUT=budget, DB_REQUEST_TIMEOUT=budget)
        app = build_app(dsn, **settings)
        print(f"pool size {pool_size}, DB_REQUEST_TIMEOUT={budget} s, 8-12 clients\n")
        print("| phase | statuses | slowest s | most backends |\n|---|---|---|---|")
        async with serve(app) as url, aiohttp.ClientSession() as session:
            print(summary("baseline 2 s", *await phase(session, url, dsn, 2)))

            async def locked():
                ready, release = asyncio.Event(), asyncio.Event()
                locker = asyncio.create_task(lock_items(dsn, ready, release))
                await ready.wait()
                await asyncio.sleep(lock_seconds)
                release.set()
                await locker

            name = f"table locked {lock_seconds:g} s"
            print(summary(name, *await phase(session, url, dsn, 0, locked, 12, "/count")))

            async def terminate():
                for _ in range(8):
                    await asyncio.sleep(0.25)
                    await admin(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid()",
                        database_name(dsn),
                    )

            name = "pg_terminate_backend x8"
            print(summary(name, *await phase(session, url, dsn, 0, terminate, 12)))
            posts = [item for item, *_ in VIOLATIONS]
            answers = await asyncio.gather(
                *(call(session, url + "/items", "POST", json=p) for p in posts)
            )
            for (item, *_), answer in zip(VIOLATIONS, answers, strict=True):
                print(summary(f"POST {item}", [answer]) + f" {answer.body['message']}")

            async def drop():
                await asyncio.sleep(0.3)
                await admin(f'DROP DATABASE "{database_name(dsn)}" WITH (FORCE)')
                await asyncio.sleep(1.5)

            print(
                summary("DROP DATABASE WITH (FORCE)", (await phase(session, url, dsn, 0, drop))[0])
            )
            await admin(f'CREATE DATABASE "{database_name(dsn)}"')
            await run_script(dsn, SCHEMA)
            print(
                summary(
                    "recreated: first 200 after", [await eventually_ok(session, url + "/count")]
                )
            )

        await admin(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 2')
        await admin(f'GRANT SELECT ON items TO "{role}"', dsn=dsn)
        app = build_app(as_role(dsn, role), DB_MAX_SIZE=6, DB_ACQUIRE_TIMEOUT=2.0)
        async with serve(app) as url, aiohttp.ClientSession() as session:
            answers = await asyncio.gather(
                *(call(session, url + "/hold?seconds=0.5") for _ in range(8))
            )
            print(summary("role CONNECTION LIMIT 2, pool 6, 8 at once", answers))
            print(summary("after: first 200", [await eventually_ok(session, url + "/count")]))
    finally:
        await drop_database(dsn)
        await admin(f'DROP ROLE IF EXISTS "{role}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=float, default=20.0, help="seconds the table stays locked")
    parser.add_argument("--pool", type=int, default=3, help="DB_MAX_SIZE of the app")
    parser.add_argument("--budget", type=float, default=1.0, help="DB_REQUEST_TIMEOUT (seconds)")
    args = parser.parse_args()
    allow_same_name_apps()  # two apps in one process (the second one runs as the small role)
    asyncio.run(run(args.lock, args.pool, args.budget))


if __name__ == "__main__":
    main()
