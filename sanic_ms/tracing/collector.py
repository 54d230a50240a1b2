"""A tiny in-process Zipkin collector: accepts ``POST /api/v2/spans`` and keeps recent traces.

Used by the tests, ``make demo``, the notebooks and the benchmarks in place of a real Zipkin
server::

    collector = Collector()
    url = await collector.start()           # http://127.0.0.1:<free port>; use as ZIPKIN_URL
    ...
    spans = await collector.wait_for_spans(4)
    print(render_tree(spans))
    await collector.stop()

Each POST costs work in proportion to its own spans, never to what is already stored: it keeps
the ``max_traces`` most recent traces (``DEFAULT_MAX_TRACES``; older ones are forgotten whole)
and the last ``RECENT_BATCHES`` batches, so memory stays flat however long it runs.
``max_traces=0`` keeps nothing and does not even parse: it only counts spans, which is what a
benchmark wants from its collector (``GET /stats`` -> ``{"spans": N, "batches": M, ...}``).

``mode`` makes it misbehave on purpose: ``"ok"`` (202), ``"error"`` (500) or ``"stall"`` (never
answers), to show that tracing never slows or breaks the traced service; ``delay`` (seconds) makes
every answer that slow. With ``validate=True``
every batch is checked against the Zipkin v2 ``ListOfSpans`` schema in ``specs/zipkin2-api.yaml``
and an invalid one is refused (400) and kept in ``invalid``.

Run alone: ``python -m sanic_ms.tracing.collector --port 9411 [--max-traces N] [--quiet]`` prints each
trace's tree from a background task, off the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import uvloop
from aiohttp import web

from .trees import by_start, render_tree, service_of, traces

if TYPE_CHECKING:
    import jsonschema.protocols

SPEC = Path(__file__).resolve().parents[2] / "specs" / "zipkin2-api.yaml"
DEFAULT_MAX_TRACES = 1000  # a few minutes of a demo; tests hold far fewer
MAX_SPANS_PER_TRACE = 10_000  # one runaway trace (a reused trace ID) must not hold the heap
RECENT_BATCHES = 16  # ``batches`` and ``invalid`` keep this many, for tests to inspect


@cache
def _validator() -> jsonschema.protocols.Validator:
    # Here, not at the top: jsonschema takes seconds to import, and only validate=True needs it.
    import jsonschema
    import yaml

    document = yaml.safe_load(SPEC.read_text())
    # Refs like "#/definitions/Span" resolve against the whole document, so validate with a
    # schema that is the document itself plus a root $ref to ListOfSpans.
    schema = dict(document, **{"$ref": "#/definitions/ListOfSpans"})
    cls = jsonschema.Draft4Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(batch: Any) -> list[str]:
    """Why ``batch`` is not a valid Zipkin v2 ``ListOfSpans`` (empty when it is)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator().iter_errors(batch)
    ]


class Collector:
    """The collector server; ``spans`` lists the spans of the traces it still holds.

    Counters (also at ``GET /stats``): ``posts`` (every POST, whatever the mode answered),
    ``received`` spans and ``batch_count`` accepted, ``evicted`` traces forgotten to make room,
    ``discarded`` spans beyond ``MAX_SPANS_PER_TRACE`` in one trace.
    """

    def __init__(
        self,
        *,
        validate: bool = False,
        mode: str = "ok",
        delay: float = 0.0,
        max_traces: int = DEFAULT_MAX_TRACES,
    ):
        if max_traces < 0:
            raise ValueError(f"max_traces must be >= 0, not {max_traces}")
        self.validate = validate
        self.mode = mode
        self.delay = delay
        self.max_traces = max_traces
        # Trace ID -> its spans in order of arrival; the least recently started trace first.
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self.batches: list[list[dict[str, Any]]] = []  # the last RECENT_BATCHES
        self.invalid: list[tuple[Any, list[str]]] = []  # the last RECENT_BATCHES refused
        self.posts = self.received = self.batch_count = self.evicted = self.discarded = 0
        self.on_batch: Callable[[list[dict[str, Any]]], None] | None = None
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()
        self._stalled: list[asyncio.Future[None]] = []

    @property
    def spans(self) -> list[dict[str, Any]]:
        """Every span held, trace by trace (oldest trace first), each in order of arrival."""
        return [span for trace in self._traces.values() for span in trace]

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans held for ``trace_id``, in order of arrival (empty if unknown or evicted)."""
        return list(self._traces.get(trace_id, ()))

    def stats(self) -> dict[str, int]:
        return {
            "spans": self.received,
            "batches": self.batch_count,
            "posts": self.posts,
            "traces": len(self._traces),
            "max_traces": self.max_traces,
            "evicted_traces": self.evicted,
            "discarded_spans": self.discarded,
        }

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v2/spans", self._post_spans)
        app.router.add_get("/api/v2/spans", self._get_spans)
        app.router.add_get("/api/v2/traces", self._get_traces)
        app.router.add_get("/api/v2/trace/{trace_id}", self._get_trace)
        app.router.add_get("/stats", self._get_stats)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0: any free one) and return the base URL, e.g. ``http://127.0.0.1:9411``."""
        if self.validate:
            # Importing jsonschema takes seconds here; do it off the loop, before any request.
            await asyncio.to_thread(_validator)
        self._runner = web.AppRunner(
            self._app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        for future in self._stalled:
            if not future.done():
                future.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def clear(self) -> None:
        self._traces.clear()
        self.batches.clear()
        self.invalid.clear()
        self.posts = self.received = self.batch_count = self.evicted = self.discarded = 0

    def _keep(self, batch: list[dict[str, Any]]) -> None:
        # O(len(batch)): an append per span, an eviction per new trace beyond the bound.
        traces = self._traces
        for span in batch:
            trace_id = span.get("traceId") if isinstance(span, dict) else None
            if not isinstance(trace_id, str):
                self.discarded += 1  # unvalidated junk: nothing to file it under
                continue
            trace = traces.get(trace_id)
            if trace is None:
                trace = traces[trace_id] = []
                if len(traces) > self.max_traces:
                    traces.popitem(last=False)
                    self.evicted += 1
            if len(trace) < MAX_SPANS_PER_TRACE:
                trace.append(span)
            else:
                self.discarded += 1

    async def _post_spans(self, request: web.Request) -> web.Response:
        self.posts += 1
        body = await request.read()  # first: a late answer still means the batch arrived
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "stall":
            future = asyncio.get_running_loop().create_future()
            self._stalled.append(future)
            await future  # until stop() cancels it, or the client gives up
        if self.mode == "error":
            return web.json_response({"error": "collector failing on purpose"}, status=500)
        if not self.max_traces and not self.validate:
            # Count-only: every v2 span has exactly one "traceId" key; no parsing, no keeping.
            self.received += body.count(b'"traceId"')
            self.batch_count += 1
            return web.Response(status=202)
        try:
            batch = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return web.json_response({"error": f"not JSON: {exc}"}, status=400)
        if self.validate:
            errors = schema_errors(batch)
            if errors:
                _keep_recent(self.invalid, (batch, errors))
                return web.json_response(
                    {"error": "not a ListOfSpans", "details": errors}, status=400
                )
        if not isinstance(batch, list):
            return web.json_response({"error": "expected a JSON array of spans"}, status=400)
        self.received += len(batch)
        self.batch_count += 1
        if self.max_traces:
            _keep_recent(self.batches, batch)
            self._keep(batch)
        if self.on_batch is not None:
            self.on_batch(batch)
        async with self._arrived:
            self._arrived.notify_all()
        return web.Response(status=202)

    async def _get_spans(self, request: web.Request) -> web.Response:
        service = request.query.get("serviceName")
        spans = [s for s in self.spans if service is None or service_of(s) == service]
        return web.json_response(spans)

    async def _get_traces(self, request: web.Request) -> web.Response:
        return web.json_response(list(traces(self.spans).values()))

    async def _get_trace(self, request: web.Request) -> web.Response:
        found = self.trace(request.match_info["trace_id"])
        if not found:
            raise web.HTTPNotFound(text=orjson.dumps({"error": "no such trace"}).decode())
        return web.json_response(by_start(found))

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def wait_for_spans(
        self,
        count: int,
        within: float = 10.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The spans received once at least ``count`` match ``where``; TimeoutError otherwise."""

        def matching() -> list[dict[str, Any]]:
            return [s for s in self.spans if where is None or where(s)]

        async with asyncio.timeout(within):
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(matching()) >= count)
        return matching()

    async def wait_for_trace(
        self,
        where: Callable[[dict[str, Any]], bool],
        within: float = 10.0,
        settle: float = 0.3,
    ) -> list[dict[str, Any]]:
        """The whole trace of the first span matching ``where``.

        Each service reports on its own schedule, so once that span is in, keep waiting until
        no span of its trace has arrived for ``settle`` seconds.
        """
        (first,) = (await self.wait_for_spans(1, within, where))[:1]
        trace_id = first["traceId"]
        seen = -1
        async with asyncio.timeout(within):
            while True:
                mine = self.trace(trace_id)
                if len(mine) == seen:
                    return mine
                seen = len(mine)
                await asyncio.sleep(settle)


def _keep_recent(items: list[Any], item: Any) -> None:
    items.append(item)
    if len(items) > RECENT_BATCHES:
        del items[0]  # a short list: cheaper than a deque that compares unequal to []


class TreePrinter:
    """Prints each trace's tree from a background task, ``settle`` seconds after its root came.

    The POST handler only appends the root's trace ID to a bounded queue (``on_batch``); a trace
    whose turn comes too late, or that would overflow the queue, is counted in ``skipped`` rather
    than slowing the collector down.
    """

    def __init__(
        self,
        collector: Collector,
        out: TextIO | None = None,
        settle: float = 1.0,
        backlog: int = 1000,
    ) -> None:
        self.collector = collector
        self.out = out or sys.stdout
        self.settle = settle  # other services report on their own schedule: wait for their spans
        self.pending: deque[tuple[float, str]] = deque()
        self.backlog = backlog
        self.printed = self.skipped = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def on_batch(self, batch: list[dict[str, Any]]) -> None:
        # A root span (no parent) finishes last in its service, so its arrival marks the trace.
        for span in batch:
            if "parentId" not in span:
                if len(self.pending) >= self.backlog:
                    self.skipped += 1
                    continue
                self.pending.append((time.monotonic() + self.settle, span["traceId"]))
                self._wake.set()

    def start(self) -> None:
        self.collector.on_batch = self.on_batch
        self._task = asyncio.create_task(self._run(), name="collector-printer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, trace_id = self.pending[0]
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            self.pending.popleft()
            spans = self.collector.trace(trace_id)
            if spans:
                self.out.write(render_tree(spans) + "\n")
                self.printed += 1
            else:
                self.skipped += 1  # evicted before its turn: the collector holds newer traces
            if not self.pending:
                self.out.flush()
            await asyncio.sleep(0)  # let POSTs in between two trees


async def _serve(host: str, port: int, validate: bool, max_traces: int, quiet: bool) -> None:
    collector = Collector(validate=validate, max_traces=max_traces)
    printer = None if quiet or not max_traces else TreePrinter(collector)
    if printer is not None:
        printer.start()
    url = await collector.start(host, port)
    print(f"Zipkin collector listening at {url}/api/v2/spans", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        if printer is not None:
            await printer.stop()
        await collector.stop()
        print(f"collector stopped: {collector.stats()}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9411)
    parser.add_argument("--validate", action="store_true", help="refuse invalid batches")
    parser.add_argument(
        "--max-traces",
        type=int,
        default=DEFAULT_MAX_TRACES,
        help=f"recent traces to keep (default {DEFAULT_MAX_TRACES}); 0: only count spans",
    )
    parser.add_argument("--quiet", action="store_true", help="print no trees")
    args = parser.parse_args(argv)
    if args.max_traces < 0:
        parser.error("--max-traces must be >= 0")
    uvloop.run(_serve(args.host, args.port, args.validate, args.max_traces, args.quiet))


if __name__ == "__main__":
    main()
