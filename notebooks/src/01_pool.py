# %% [markdown]
# # Lab 01: the connection pool
#
# A service keeps a few PostgreSQL connections open and lends them to requests: a **pool**.
# This notebook uses the finished pool of `sanic_ms` (the one you rebuild in `labs/01/db.py`)
# against a real PostgreSQL database created for this notebook, and shows:
#
# 1. rows come back as plain dicts;
# 2. a transaction commits as a whole or rolls back as a whole;
# 3. when every connection is busy, a request gets **503** quickly instead of waiting forever;
# 4. how latency changes with the pool size when many requests arrive at once (a picture).
#
# Run the cells from top to bottom (Shift-Enter). The last cell runs the lab's tests on *your*
# `labs/01/db.py`.

# %%
from sanic_ms import notebook as nb
from sanic_ms.db import Database
from sanic_ms.postgres import resolve

print(resolve(verbose=False).describe())
dsn = await nb.database("nb01", rows=True)  # a database of our own, dropped at the end
print("this notebook's database:", dsn.rsplit("/", 1)[1])

# %% [markdown]
# ## 1. Borrow a connection; rows are dicts
#
# `Database.acquire()` is an *async context manager*: the connection is borrowed when the block
# starts and given back when it ends, even if the block raises. `fetch` returns a list of dicts,
# `fetchrow` one dict or `None`.

# %%
db = await Database(dsn, min_size=1, max_size=4).connect()
async with db.acquire() as conn:
    cities = await conn.fetch("SELECT id, name FROM cities ORDER BY id")
    nobody = await conn.fetchrow("SELECT * FROM users WHERE id = $1", 999)
print(cities)
print(nobody)
print("connections idle in the pool now:", db.pool.get_idle_size(), "of", db.pool.get_size())

# %% [markdown]
# ## 2. A transaction is all or nothing
#
# Inside `transaction()` the statements either all commit (the block ends normally) or all roll
# back (the block raises; the exception goes on to the caller). Here the second insert breaks a
# rule (the city name is `NOT NULL`), so the first insert is undone too.

# %%
async def count_cities():
    async with db.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM cities")

before = await count_cities()
try:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO cities (name) VALUES ($1)", "Porto")
        await conn.execute("INSERT INTO cities (name) VALUES ($1)", None)
except Exception as exc:
    print(f"the block raised {type(exc).__name__}: {exc}")
print(f"cities before: {before}, after: {await count_cities()}  (Porto was rolled back)")
await db.close()

# %% [markdown]
# ## 3. An empty pool answers 503
#
# A tiny service whose one route holds a connection for 0.3 s (`pg_sleep`). Its pool has only two
# connections, and a request waits at most 0.2 s for one (`DB_ACQUIRE_TIMEOUT`). Eight requests
# at once: two get a connection, the others get a quick, clear **503** in the usual envelope.

# %%
import asyncio
from collections import Counter

import sanic_ms


def slow_app(pool_size, acquire_timeout=5.0, hold=0.3):
    app = sanic_ms.create_app(
        "pool",
        {"DATABASE_URL": dsn, "DB_MIN_SIZE": pool_size, "DB_MAX_SIZE": pool_size,
         "DB_ACQUIRE_TIMEOUT": acquire_timeout, "LOG_LEVEL": "ERROR"},
    )

    @app.get("/slow")
    async def slow(request):
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchval("SELECT pg_backend_pid() FROM pg_sleep($1)", hold)

    return app


url = await nb.start(slow_app(pool_size=2, acquire_timeout=0.2))
results = await nb.timed_calls(url + "/slow", concurrency=8)
print("answers:", dict(Counter(status for status, _ in results)))
await nb.show("GET", url + "/slow")  # one alone is fine
replies = await asyncio.gather(*(nb.call("GET", url + "/slow") for _ in range(3)))
busy = next((body for status, body in replies if status == 503), "(all three got a connection this time: rerun the cell)")
print("what a 503 looks like:", busy)
await nb.stop("pool")

# %% [markdown]
# ## 4. Latency as the pool size varies
#
# 32 requests arrive at once; each holds a connection for 50 ms. With a pool of *n* connections
# they are served *n* at a time, so the last one waits about 32 / n × 50 ms. A bigger pool helps
# until another limit (CPU, PostgreSQL's own `max_connections`) takes over, which is why
# `DB_MAX_SIZE` is a setting and not "as many as possible".

# %%
import statistics

import matplotlib.pyplot as plt

sizes = [1, 2, 4, 8, 16, 32]
rows = []
for size in sizes:
    url = await nb.start(slow_app(pool_size=size, hold=0.05))
    timings = await nb.timed_calls(url + "/slow", concurrency=32)
    await nb.stop("pool")
    ms = sorted(seconds * 1000 for status, seconds in timings if status == 200)
    rows.append((size, statistics.median(ms), ms[int(0.95 * (len(ms) - 1))], ms[-1], len(ms)))
    print(f"pool {size:>2}: median {rows[-1][1]:6.0f} ms, p95 {rows[-1][2]:6.0f} ms, "
          f"slowest {rows[-1][3]:6.0f} ms, {rows[-1][4]}/32 answered 200")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(sizes, [r[1] for r in rows], "o-", label="median")
ax.plot(sizes, [r[2] for r in rows], "s-", label="95th percentile")
ax.plot(sizes, [32 / s * 50 for s in sizes], ":", color="gray", label="theory for the slowest: 32 / size × 50 ms")
ax.set(xscale="log", yscale="log", xlabel="pool size (DB_MAX_SIZE)", ylabel="latency (ms)",
       title="32 concurrent requests, 50 ms of database work each")
ax.set_xticks(sizes, [str(s) for s in sizes])
ax.legend()
plt.show()

# %% [markdown]
# ## Your turn
#
# Open `labs/01/README.md` and finish `labs/01/db.py`: task 1 (rows as dicts), task 2 (borrow,
# give back, 503), task 3 (transactions). The cell below runs `pytest labs/01` on your file and
# shows which tasks pass. Rerun it whenever you saved a change (or use `make watch N=01` in a
# terminal).

# %%
progress = await nb.lab("01")

# %% [markdown]
# ## Clean up
#
# Stop the services and drop this notebook's database.

# %%
await nb.cleanup()
