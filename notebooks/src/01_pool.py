# %% [markdown]
# # Lab 01: the connection pool
#
# A service keeps a few PostgreSQL connections open and lends them to requests: a **pool**.
# This notebook runs **your** pool (`labs/01/db.py`, plugged into `sanic_ms` the way the lab's
# tests do it) against a real PostgreSQL database created for this notebook, and shows:
#
# 1. rows come back as plain dicts;
# 2. a transaction commits as a whole or rolls back as a whole;
# 3. when every connection is busy, a request gets **503** quickly instead of waiting forever;
# 4. busy and idle connections over time under load, and what **one leaked connection** does;
# 5. how latency changes with the pool size when many requests arrive at once.
#
# While your `db.py` is unfinished, the first cell says so and the notebook runs the reference
# pool instead. Run the cells from top to bottom (Shift-Enter).

# %%
from grader import notebook as nb
from grader.postgres import resolve

nb.setup()  # cells are rerun: apps of the same name are allowed again

print(resolve(verbose=False).describe())
dsn = await nb.database("nb01", rows=True)  # a database of our own, dropped at the end
print("this notebook's database:", dsn.rsplit("/", 1)[1])


async def works(modules):
    """Your pool, tried once: rows as dicts, a transaction, every connection given back."""
    db = await modules["db.py"].Database(dsn, min_size=1, max_size=2).connect()
    try:
        async with db.acquire() as conn:
            rows = await conn.fetch("SELECT 1 AS one")
        assert rows == [{"one": 1}], f"fetch returned {rows!r}, not a list of dicts"
        async with db.transaction() as conn:
            await conn.execute("SELECT 1")
    finally:
        await nb.close_database(db)  # fails, naming the leak, if a connection was not given back


code = await nb.student_code("01", "db.py", check=works)
code

# %%
from sanic_ms.db import Database  # yours when the cell above says so, else the reference

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
# ## 4. Busy and idle connections over time, and a leak
#
# The same service with a pool of four, and a second route with a **planted fault** (as in
# Jaeger's HotROD demo): `/leaky` borrows a connection with `pool.acquire()` and never gives it
# back (no `finally: release`). We sample the pool every 5 ms while requests arrive.
#
# - Healthy load: waves of 12 requests; *busy* jumps to 4 during a wave and falls back to 0,
#   while *idle* does the opposite.
# - With the leak: each call to `/leaky` keeps one connection for ever. Busy climbs one step per
#   leak and never comes down (two requests between leaks add a short bump); once all four
#   are gone, every request gets a 503 (red marks).
#   Flip `FIX_LEAK = True` and rerun the cell to see the fixed route.

# %%
FIX_LEAK = False  # the HotROD-style switch: True gives the connection back in a `finally`


def pool_app():
    app = slow_app(pool_size=4, acquire_timeout=0.3, hold=0.05)
    app.ctx.leaked = []  # kept only so that this notebook can clean up afterwards

    @app.get("/leaky")
    async def leaky(request):
        pool = request.app.ctx.db.pool
        try:
            conn = await pool.acquire(timeout=0.3)
        except TimeoutError:
            raise sanic_ms.ServiceUnavailable("Database busy: no connection free in time") from None
        if FIX_LEAK:
            try:
                return await conn.fetchval("SELECT pg_backend_pid()")
            finally:
                await pool.release(conn)
        request.app.ctx.leaked.append(conn)  # PLANTED FAULT: never released
        return await conn.fetchval("SELECT pg_backend_pid()")

    return app


app = pool_app()
url = await nb.start(app)
pool = app.ctx.db.pool

async with nb.pool_timeline(pool) as healthy:
    for wave in range(3):
        await nb.timed_calls(url + "/slow", concurrency=12)
        await asyncio.sleep(0.15)

async with nb.pool_timeline(pool) as leaking:
    await asyncio.sleep(0.1)
    for step in range(6):
        await nb.call("GET", url + "/leaky")
        leaking.mark("leak" if not FIX_LEAK else "fixed call")
        await asyncio.sleep(0.1)
        answers = await nb.timed_calls(url + "/slow", concurrency=2)
        for status, _ in answers:
            if status == 503:
                leaking.mark("503")
        await asyncio.sleep(0.15)
print(f"leaked connections: {len(app.ctx.leaked)}; "
      f"503 answers: {sum(what == '503' for _, what in leaking.marks)}")

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, timeline, title in ((axes[0], healthy, "healthy: 3 waves of 12 requests"),
                            (axes[1], leaking, "with /leaky: one connection lost per call")):
    t = [s[0] for s in timeline.samples]
    ax.stackplot(t, [s[1] for s in timeline.samples], [s[2] for s in timeline.samples],
                 labels=["busy", "idle"], colors=["#c62828", "#90caf9"], step="post")
    for at, what in timeline.marks:
        if what == "503":
            ax.plot(at, 4.3, "v", color="#b71c1c")
        else:
            ax.axvline(at, color="black", linestyle=":", linewidth=1)
    ax.set(title=title, xlabel="seconds", ylim=(0, 4.6))
axes[0].set_ylabel("connections in the pool")
axes[0].legend(loc="upper left")
axes[1].text(0.99, 0.02, "dotted: a call to /leaky; ▼: a 503", transform=axes[1].transAxes,
             ha="right", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The fix, by hand: give the leaked connections back. Busy falls to 0, and the pool answers again.

# %%
for conn in app.ctx.leaked:
    await pool.release(conn)
app.ctx.leaked.clear()
print("busy:", pool.get_size() - pool.get_idle_size(), "idle:", pool.get_idle_size())
await nb.show("GET", url + "/slow")
await nb.stop("pool")

# %% [markdown]
# ## 5. Latency as the pool size varies
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
# terminal); once your pool works, rerun the notebook from the top to see it in the pictures.

# %%
progress = await nb.lab("01")

# %% [markdown]
# ## Clean up
#
# Stop the services and drop this notebook's database.

# %%
await nb.cleanup()
