"""The per-request pieces of the full stack, each alone in a hot loop: ``python -m bench.pieces``.

``make bench``'s cost table says what each convenience costs inside a loaded server; this says
what the same code costs with nothing else running (CPU time of this process per call, best of
``--repeats``). Served, everything costs more (caches and branch predictors shared with Sanic,
asyncpg and the load), so read these as floors: a piece that alone is over the budget the
0.60 goal leaves cannot fit in it served either.

* ``log line``: one call of an ``@logger`` coroutine, its line formatted by ``logging.yml``
  (python-json-logger with orjson) and written to /dev/null;
* ``log.info, no fields``: ``logging.getLogger("sanic_ms").info("d")``, the same formatter: the
  least a line through ``logging.yml`` costs;
* ``log line, plain formatter``: the same call through stdlib ``logging`` with a ``%``-style
  formatter: what ``logging`` itself costs, before any JSON;
* ``orjson line, no logging``: the same fields put in a dict, serialised and written: the floor;
* ``SERVER span``: the tracing middleware of one request (B3 extract, start, finish, queued);
* ``query span``: one ``query_span`` inside it;
* ``span to Zipkin JSON``: the reporter's conversion and serialisation, per span.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from sanic.compat import Header

import sanic_ms
from sanic_ms import tracing
from sanic_ms.log import logger, setup_logging
from sanic_ms.tracing.reporter import ZipkinReporter
from sanic_ms.tracing.zipkin import to_zipkin

QUERY = "SELECT id, name, email FROM bench_rows WHERE id = $1"


def best_us(call: Callable[[], Any], count: int, repeats: int) -> float:
    """CPU µs per call of ``call``, the best of ``repeats`` loops of ``count`` calls."""
    call()
    best = float("inf")
    for _ in range(repeats):
        began = time.process_time()
        for _ in range(count):
            call()
        best = min(best, (time.process_time() - began) / count)
    return best * 1e6


def _drive(coroutine: Any) -> None:
    # Nothing in these coroutines waits for anything: run them without an event loop in the way.
    try:
        coroutine.send(None)
    except StopIteration:
        pass


def _log_pieces(sink: Any) -> dict[str, Callable[[], Any]]:
    @logger(type="handler", category="bench", description="one row by primary key")
    async def row(request: Any = None) -> int:
        return 1

    fields = {"type": "handler", "detail": None, "description": "d", "function": "row"}

    def orjson_line() -> None:
        line = {"level": "INFO", "logger": "sanic_ms", "message": "d", **fields}
        line.update(category="bench", outcome="ok", duration_ms=0.01, time=time.time())
        sink.write(orjson.dumps(line).decode() + "\n")
        sink.flush()

    bare = logging.getLogger("sanic_ms")
    return {
        "log line": lambda: _drive(row()),
        "log.info, no fields": lambda: bare.info("d"),
        "orjson line, no logging": orjson_line,
    }


def _plain_formatter(sink: Any) -> None:
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().handlers[:] = [handler]


def _tracing_pieces(reporter: ZipkinReporter) -> dict[str, Callable[[], Any]]:
    tracer = tracing.Tracer("bench", reporter)
    app = SimpleNamespace(ctx=SimpleNamespace(tracer=tracer))
    headers = Header({"host": "127.0.0.1:8000", "user-agent": "wrk", "accept": "*/*"})
    route = SimpleNamespace(path="row/<id:int>")
    response = SimpleNamespace(status=200)

    def request() -> SimpleNamespace:
        return SimpleNamespace(
            app=app,
            headers=headers,
            route=route,
            method="GET",
            path="/row/1",
            ctx=SimpleNamespace(),
        )

    def server_span() -> None:
        served = request()
        tracing.start_server_span(served)
        tracing.finish_server_span(served, response)

    served = request()
    tracing.start_server_span(served)  # the active span the query spans are children of

    def query_span() -> None:
        with tracing.query_span(QUERY, (1,)):
            pass

    return {"SERVER span": server_span, "query span": query_span}


def measure(count: int, repeats: int) -> dict[str, float]:
    """µs per call of each piece."""
    setup_logging(Path(sanic_ms.__file__).with_name("logging.yml"))
    root = logging.getLogger()
    configured = root.handlers[:]
    results = {}
    with open(os.devnull, "w") as sink:
        streams = {h: h.setStream(sink) for h in configured if isinstance(h, logging.StreamHandler)}
        try:
            pieces = _log_pieces(sink)
            results["log line"] = best_us(pieces["log line"], count, repeats)
            results["log.info, no fields"] = best_us(pieces["log.info, no fields"], count, repeats)
            _plain_formatter(sink)
            results["log line, plain formatter"] = best_us(pieces["log line"], count, repeats)
            results["orjson line, no logging"] = best_us(
                pieces["orjson line, no logging"], count, repeats
            )
        finally:
            root.handlers[:] = configured
            for handler, stream in streams.items():
                handler.setStream(stream)

    async def spans() -> None:
        # The reporter's queue is an asyncio.Queue: built inside a loop, never started.
        reporter = ZipkinReporter(
            "http://127.0.0.1:9", "bench", queue_size=(repeats + 1) * count + 1000
        )
        pieces = _tracing_pieces(reporter)
        for name, piece in pieces.items():
            results[name] = best_us(piece, count, repeats)
            _drain(reporter)  # what the loop queued: not what the next piece measures
        for _ in range(100):  # the spans of 100 requests, as the reporter gets them
            pieces["SERVER span"]()
            pieces["query span"]()
        sample = _drain(reporter)
        local = reporter.local_endpoint
        batches = max(1, count // len(sample))  # about ``count`` spans per loop
        results["span to Zipkin JSON"] = best_us(
            lambda: orjson.dumps([to_zipkin(span, local) for span in sample]), batches, repeats
        ) / len(sample)

    asyncio.run(spans())
    return results


def _drain(reporter: ZipkinReporter) -> list[Any]:
    spans = []
    while not reporter.queue.empty():
        spans.append(reporter.queue.get_nowait())
    return spans


def render(results: dict[str, float]) -> str:
    lines = ["| piece, alone in a hot loop | CPU µs per call |", "|---|---:|"]
    lines += [f"| {name} | {us:.1f} |" for name, us in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="calls per loop")
    parser.add_argument("--repeats", type=int, default=5, help="loops; the best one counts")
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeats < 1:
        parser.error("need --count >= 1 and --repeats >= 1")
    results = measure(args.count, args.repeats)
    print(render(results))
    return results


if __name__ == "__main__":
    main()
