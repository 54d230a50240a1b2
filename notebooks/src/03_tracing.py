# %% [markdown]
# # Lab 03: distributed tracing
#
# One click in a client becomes a request to the users service, which queries PostgreSQL and
# calls the cities and roles services, which query PostgreSQL too. When that click is slow, which
# part was slow? **Tracing** answers that: every service records **spans** (an operation with a
# start, a duration, tags) that share one **trace ID**, and reports them to a collector (Zipkin).
#
# - The trace ID and the caller's span ID travel between services in **B3 headers**
#   (`X-B3-TraceId`, `X-B3-SpanId`, `X-B3-ParentSpanId`, `X-B3-Sampled`).
# - Each request gets a SERVER span; each outgoing call a CLIENT span; each SQL statement a CLIENT
#   span towards `postgresql`.
# - Spans are reported in Zipkin's v2 JSON by a **non-blocking** reporter: a queue and a background
#   task, so a slow or broken collector never slows the request.
#
# Here an in-process Zipkin collector (`sanic_ms.tracing.collector.Collector`) receives the spans
# of the three example services, and we draw real traces. The services run **your** B3 and Zipkin
# code (`labs/03/b3.py`, `labs/03/zipkin.py`, `labs/03/reporter.py`, plugged in the way the lab's
# tests do it); while it is unfinished, the first cell says so and the reference runs instead.

# %%
import secrets

from grader import notebook as nb
from sanic_ms.tracing.collector import Collector, render_tree

nb.setup()  # cells are rerun: apps of the same name are allowed again

dsn = await nb.database("nb03", rows=True)
collector = Collector(validate=True)  # refuses any batch that is not valid Zipkin v2 JSON
zipkin = await collector.start()


async def start_services(**settings):
    return await nb.examples(dsn, ZIPKIN_URL=zipkin, TRACING_FLUSH_INTERVAL=0.05, **settings)


async def works(modules):
    """Your code, tried once: a request with B3 headers leaves valid spans of that trace."""
    trace = secrets.token_hex(8)
    users = (await start_services(LOG_LEVEL="CRITICAL"))["users"]  # its 500s are told below
    status, _ = await nb.call("GET", users + "/users/1", headers={
        "X-B3-TraceId": trace, "X-B3-SpanId": secrets.token_hex(8), "X-B3-Sampled": "1"})
    assert status == 200, f"GET /users/1 answered {status}"
    await collector.wait_for_spans(3, within=5, where=lambda s: s["traceId"] == trace)


code = await nb.student_code("03", "b3.py", "zipkin.py", "reporter.py", check=works)
services = await start_services()
users = services["users"]
print("collector at", zipkin, "- services:", services)
code

# %% [markdown]
# ## 1. One request, with our own trace ID
#
# We act as the first service of the trace and send B3 headers. Every span of this request will
# carry our trace ID; the users service's SERVER span will name our span as its parent.

# %%
trace_id, our_span = secrets.token_hex(8), secrets.token_hex(8)
headers = {"X-B3-TraceId": trace_id, "X-B3-SpanId": our_span, "X-B3-Sampled": "1"}
await nb.show("GET", users + "/users/1", headers=headers)


def in_trace(span, kind=None):
    return span["traceId"] == trace_id and (kind is None or span.get("kind") == kind)


# The three SERVER spans (users, cities, roles) end last in each service; wait for them.
await collector.wait_for_spans(3, within=10, where=lambda s: in_trace(s, "SERVER"))
spans = [s for s in collector.spans if in_trace(s)]
print(f"{len(spans)} spans in trace {trace_id}, from",
      sorted({s["localEndpoint"]["serviceName"] for s in spans}))
print(render_tree(spans))

# %% [markdown]
# ## 2. The waterfall
#
# The same spans on a time line, as Zipkin's UI draws them: each bar starts when its operation
# started and is as long as it took. Look for the two calls to cities and roles: they overlap,
# because the users service makes them **in parallel** (`async_request`).

# %%
import matplotlib.pyplot as plt


def draw(ax, bars, palette):
    """One bar per span, coloured by service, hatched for PostgreSQL, labelled with its ms."""
    for row, bar in enumerate(bars):
        color = palette.get(bar.service, "gray")
        hatch = "//" if "postgresql" in bar.label else None
        ax.barh(row, max(bar.duration_ms, 0.05), left=bar.start_ms, color=color, hatch=hatch,
                edgecolor="white" if hatch else color)
        ax.text(bar.start_ms + bar.duration_ms, row, f" {bar.duration_ms:.1f} ms", va="center",
                fontsize=8)
    ax.set_yticks(range(len(bars)), ["   " * bar.depth + bar.label for bar in bars], fontsize=8)
    ax.invert_yaxis()


bars = nb.waterfall(spans)
palette = {"users": "#1565c0", "cities": "#2e7d32", "roles": "#ef6c00"}
fig, ax = plt.subplots(figsize=(11, 0.45 * len(bars) + 1.2))
draw(ax, bars, palette)
ax.set_xlabel("ms since the trace started")
ax.set_title(f"GET /users/1: trace {trace_id} (hatched: PostgreSQL)")
handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()]
ax.legend(handles, palette.keys(), loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. One after another, or in parallel
#
# A front service needs two answers from a stock service, each taking about 40 ms of database
# work. It has a **planted fault** switch, as in Jaeger's HotROD demo: with `PARALLEL = False` it
# awaits one call, then the other; with `PARALLEL = True` it starts both at once
# (`asyncio.gather`, which `async_request` uses). In the waterfalls the two CLIENT bars follow each
# other, or overlap, and the whole request takes the sum, or the longer, of the two.

# %%
import asyncio

import sanic_ms

traced = {"ZIPKIN_URL": zipkin, "TRACING_FLUSH_INTERVAL": 0.05, "LOG_LEVEL": "WARNING"}


def stock_app():
    app = sanic_ms.create_app("stock", {"DATABASE_URL": dsn, **traced})

    @app.get("/stock/<item:str>")
    async def stock(request, item: str):
        async with request.app.ctx.db.acquire(request) as conn:
            return await conn.fetchval("SELECT $1::text FROM pg_sleep(0.04)", item)

    return app


def front_app(parallel):
    app = sanic_ms.create_app("front", {"DATABASE_URL": dsn, "SERVICES": {"stock": stock},
                               **traced})

    @app.get("/basket")
    async def basket(request):
        stock_service = request.app.ctx.clients.stock
        if parallel:
            a, b = await asyncio.gather(stock_service.get("/stock/a", request=request),
                                        stock_service.get("/stock/b", request=request))
        else:  # PLANTED FAULT: the second call waits for the first for no reason
            a = await stock_service.get("/stock/a", request=request)
            b = await stock_service.get("/stock/b", request=request)
        return {"a": a, "b": b}

    return app


stock = await nb.start(stock_app())
traces = {}
for parallel in (False, True):
    front = await nb.start(front_app(parallel))
    await nb.call("GET", front + "/basket")  # warm up: open the keep-alive connections first
    trace = secrets.token_hex(8)
    await nb.call("GET", front + "/basket", headers={
        "X-B3-TraceId": trace, "X-B3-SpanId": secrets.token_hex(8), "X-B3-Sampled": "1"})
    # front and the two stock requests each end with a SERVER span
    await collector.wait_for_spans(
        3, within=10, where=lambda s: s["traceId"] == trace and s.get("kind") == "SERVER")
    traces["in parallel" if parallel else "one after another"] = [
        s for s in collector.spans if s["traceId"] == trace]
    await nb.stop("front")
await nb.stop("stock")

colors = {"front": "#6a1b9a", "stock": "#00838f"}
fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
for ax, (title, trace_spans) in zip(axes, traces.items()):
    bars = nb.waterfall(trace_spans)
    draw(ax, bars, colors)
    ax.set_title(f"GET /basket, calls {title}: {bars[0].duration_ms:.0f} ms")
axes[-1].set_xlabel("ms since the trace started (hatched: PostgreSQL)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Tracing must never hurt the service
#
# Now the collector answers every report with an error. The service answers as fast as before; the
# reporter counts what it could not deliver (`GET /_tracing/stats`).

# %%
import time

collector.mode = "error"
began = time.perf_counter()
for _ in range(20):
    status, _body = await nb.call("GET", users + "/users/1")
each = (time.perf_counter() - began) / 20 * 1000
print(f"20 requests with a failing collector: all answered {status}, {each:.1f} ms each")
await nb.show("GET", users + "/_tracing/stats")
collector.mode = "ok"

# %% [markdown]
# ## Your turn
#
# Open `labs/03/README.md` and finish the marked parts in `labs/03/`: B3 extract and inject,
# server and client spans, Zipkin v2 JSON, the non-blocking reporter. The cell below runs
# `pytest labs/03` and shows which tasks pass.

# %%
progress = await nb.lab("03")

# %% [markdown]
# ## Clean up

# %%
await nb.cleanup()
await collector.stop()
