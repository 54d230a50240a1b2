# %% [markdown]
# # Lab 00: async vs blocking
#
# A Sanic worker is **one thread running one event loop**. While a handler waits for something
# (a timer, PostgreSQL, another service) with `await`, the loop serves other requests. A handler
# that waits with a *blocking* call (`time.sleep`, a synchronous database driver, `urllib`) stops
# the whole worker: every other request waits too.
#
# The lab app (`bench/blocking_vs_async.py`; your copy is `labs/00/blocking_vs_async.py`) has three
# pairs of handlers doing the same 50 ms of waiting, blocking and async:
#
# | pair  | blocking (given)      | async (you write)          |
# |-------|-----------------------|----------------------------|
# | sleep | `time.sleep`          | `asyncio.sleep`            |
# | db    | psycopg (sync) query  | asyncpg pool query         |
# | http  | `urllib` to upstream  | aiohttp session to upstream|
#
# This notebook serves **your** app (`labs/00/blocking_vs_async.py`, loaded the way the lab's tests
# load it) in this kernel and sends it concurrent requests; an async handler you have not written
# yet is replaced by the reference one, and the picture says which. Then it draws the result of a
# real load test (locust, `make load`).

# %%
from grader import notebook as nb
from bench import blocking_vs_async as reference
from bench import slow_upstream
nb.setup()  # cells are rerun: apps of the same name are allowed again

dsn = await nb.database("nb00")
# The slow upstream runs in a thread of its own: a blocking handler stops this kernel's loop, and
# the upstream must still answer it.
upstream = nb.start_in_thread(slow_upstream.create_app())
settings = {"delay": 0.05, "dsn": dsn, "upstream": upstream, "pool_size": 20}

code = await nb.student_code("00", "blocking_vs_async.py", plug=False)
yours = await nb.start(code["blocking_vs_async.py"].create_app(**settings, name="yours"))
url = await nb.start(reference.create_app(**settings, name="reference"))
done = {}  # pair -> whether your async handler answers
with nb.quiet("sanic.error"):  # an unfinished handler's traceback is told in one line below
    for pair in ("sleep", "db", "http"):
        status, _ = await nb.call("GET", f"{yours}/async/{pair}")
        done[pair] = status == 200
print("your async handlers that answer:", [p for p, ok in done.items() if ok] or "none yet",
      "(the others come from the reference)")
if not code.yours:
    display(code)  # your file does not load: the reference app stands in for all of it

# %% [markdown]
# ## 1. Twenty requests at once
#
# Each request waits 50 ms. Twenty blocking requests are served one after the other (about
# 20 × 50 ms = 1 s in all); twenty async ones wait *together* (about 50 ms in all). The async
# requests go to your handlers where they answer.

# %%
import time

rows = []
for pair in ("sleep", "db", "http"):
    for style in ("blocking", "async"):
        base = yours if style == "blocking" or done[pair] else url
        began = time.perf_counter()
        answers = await nb.timed_calls(f"{base}/{style}/{pair}", concurrency=20)
        wall = time.perf_counter() - began
        slowest = max(seconds for _, seconds in answers)
        ok = sum(status == 200 for status, _ in answers)
        rows.append((pair, style, wall, slowest, ok))
        print(f"{pair:>5} {style:>8}: 20 requests took {wall * 1000:6.0f} ms in all, "
              f"slowest {slowest * 1000:6.0f} ms, {ok}/20 answered 200")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(8, 3.5))
pairs = ("sleep", "db", "http")
walls = {(pair, style): wall * 1000 for pair, style, wall, _, _ in rows}
for offset, style in ((-0.2, "blocking"), (0.2, "async")):
    for i, pair in enumerate(pairs):
        mine = style == "blocking" or done[pair]
        ax.bar(i + offset, walls[pair, style], 0.4,
               color="#c62828" if style == "blocking" else "#2e7d32",
               hatch=None if mine else "//", edgecolor="white")
        who = "yours" if style == "async" and mine else ("reference" if style == "async" else "")
        ax.text(i + offset, walls[pair, style], f"{walls[pair, style]:.0f} ms\n{who}",
                ha="center", va="bottom", fontsize=8)
ax.set(xticks=range(len(pairs)), xticklabels=pairs, ylabel="ms for 20 requests at once",
       title="blocking (red) vs async (green) handlers; hatched: not yours yet")
ax.set_ylim(0, max(walls.values()) * 1.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Under load: requests per second and latency
#
# `make load` runs [locust](https://locust.io) against each handler for 15 s with 50 users on one
# worker, and writes `reports/load/summary.csv`. Until you have run it, the chart shows the
# reference run checked in at `bench/results/load_reference.csv` (and says so in its title).
# After `make load SOURCE=labs/00` it shows your own handlers.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from bench.load import read_summary

candidates = [
    (nb.REPO_ROOT / "reports/load/labs_00/summary.csv", "your handlers (make load SOURCE=labs/00)"),
    (nb.REPO_ROOT / "reports/load/summary.csv", "reference handlers, your make load run"),
    (nb.REPO_ROOT / "bench/results/load_reference.csv", "reference run (checked in, not yours)"),
]
csv_path, label = next((p, l) for p, l in candidates if p.exists())
runs = {(r.pair, r.style): r for r in read_summary(csv_path)}
pairs = [p for p in ("sleep", "db", "http") if (p, "blocking") in runs and (p, "async") in runs]
print(f"from {csv_path.relative_to(nb.REPO_ROOT)}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
x = range(len(pairs))
for offset, style, color in ((-0.2, "blocking", "#c62828"), (0.2, "async", "#2e7d32")):
    left.bar([i + offset for i in x], [runs[p, style].rps for p in pairs], 0.4, label=style,
             color=color)
    right.bar([i + offset for i in x], [runs[p, style].p50_ms for p in pairs], 0.4, color=color,
              label=f"{style} median")
    right.scatter([i + offset for i in x], [runs[p, style].p95_ms for p in pairs], color="black",
                  marker="_", s=400, zorder=3, label=f"{style} p95" if style == "async" else None)
for i, p in enumerate(pairs):
    left.annotate(f"{runs[p, 'async'].rps / runs[p, 'blocking'].rps:.0f}×",
                  (i + 0.2, runs[p, "async"].rps), ha="center", va="bottom")
first = runs[pairs[0], "async"]
left.set(xticks=list(x), xticklabels=pairs, yscale="log", ylabel="requests / s (log)",
         title="throughput, one worker")
right.set(xticks=list(x), xticklabels=pairs, yscale="log", ylabel="latency ms (log)",
          title="latency: bars median, dashes p95")
left.legend(loc="center left")
fig.suptitle(f"{label}: {first.users} users, {first.delay_ms:.0f} ms of I/O per request")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Your turn
#
# Open `labs/00/README.md`: write the three async handlers in `labs/00/blocking_vs_async.py`. The
# tests also fail if your handler blocks the loop (they watch it). The cell below runs
# `pytest labs/00` and shows which tasks pass.

# %%
progress = await nb.lab("00")

# %% [markdown]
# ## Clean up

# %%
await nb.cleanup()
