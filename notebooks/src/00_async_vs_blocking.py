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
# This notebook serves the finished app in this kernel and sends it concurrent requests; then it
# draws the result of a real load test (locust, `make load`).

# %%
from sanic_ms import notebook as nb
from bench import slow_upstream
from bench.blocking_vs_async import create_app

dsn = await nb.database("nb00")
# The slow upstream runs in a thread of its own: a blocking handler stops this kernel's loop, and
# the upstream must still answer it.
upstream = nb.start_in_thread(slow_upstream.create_app())
url = await nb.start(create_app(delay=0.05, dsn=dsn, upstream=upstream, pool_size=20))
await nb.show("GET", url + "/")

# %% [markdown]
# ## 1. Twenty requests at once
#
# Each request waits 50 ms. Twenty blocking requests are served one after the other (about
# 20 × 50 ms = 1 s in all); twenty async ones wait *together* (about 50 ms in all).

# %%
import time

rows = []
for pair in ("sleep", "db", "http"):
    for style in ("blocking", "async"):
        began = time.perf_counter()
        answers = await nb.timed_calls(f"{url}/{style}/{pair}", concurrency=20)
        wall = time.perf_counter() - began
        slowest = max(seconds for _, seconds in answers)
        ok = sum(status == 200 for status, _ in answers)
        rows.append((pair, style, wall, slowest, ok))
        print(f"{pair:>5} {style:>8}: 20 requests took {wall * 1000:6.0f} ms in all, "
              f"slowest {slowest * 1000:6.0f} ms, {ok}/20 answered 200")

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
