"""A tiny in-process Zipkin collector: accepts ``POST /api/v2/spans`` and keeps the spans.

Used by the tests, ``make demo`` and the notebooks in place of a real Zipkin server::

    collector = Collector()
    url = await collector.start()           # http://127.0.0.1:<free port>; use as ZIPKIN_URL
    ...
    spans = await collector.wait_for_spans(4)
    print(render_tree(spans))
    await collector.stop()

``mode`` makes it misbehave on purpose: ``"ok"`` (202), ``"error"`` (500) or ``"stall"`` (never
answers), to show that tracing never slows or breaks the traced service; ``delay`` (seconds) makes
every answer that slow. With ``validate=True``
every batch is checked against the Zipkin v2 ``ListOfSpans`` schema in ``specs/zipkin2-api.yaml``
and an invalid one is refused (400) and kept in ``invalid``.

Run alone: ``python -m sanic_ms.collector --port 9411`` prints each trace's tree as it arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web

SPEC = Path(__file__).resolve().parent.parent / "specs" / "zipkin2-api.yaml"


@cache
def _validator():
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
    """The collector server; ``spans`` holds every span received, in order of arrival."""

    def __init__(self, *, validate: bool = False, mode: str = "ok", delay: float = 0.0):
        self.validate = validate
        self.mode = mode
        self.delay = delay
        self.spans: list[dict[str, Any]] = []
        self.batches: list[list[dict[str, Any]]] = []
        self.invalid: list[tuple[Any, list[str]]] = []
        self.posts = 0  # every POST, whatever the mode answered
        self.on_batch: Callable[[list[dict[str, Any]]], None] | None = None
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()
        self._stalled: list[asyncio.Future] = []

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v2/spans", self._post_spans)
        app.router.add_get("/api/v2/spans", self._get_spans)
        app.router.add_get("/api/v2/traces", self._get_traces)
        app.router.add_get("/api/v2/trace/{trace_id}", self._get_trace)
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
        bound = site._server.sockets[0].getsockname()[1]
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

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def clear(self) -> None:
        self.spans.clear()
        self.batches.clear()
        self.invalid.clear()
        self.posts = 0

    async def _post_spans(self, request: web.Request) -> web.Response:
        self.posts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "stall":
            future = asyncio.get_running_loop().create_future()
            self._stalled.append(future)
            await future  # until stop() cancels it, or the client gives up
        if self.mode == "error":
            return web.json_response({"error": "collector failing on purpose"}, status=500)
        try:
            batch = json.loads(await request.read())
        except ValueError as exc:
            return web.json_response({"error": f"not JSON: {exc}"}, status=400)
        if self.validate:
            errors = schema_errors(batch)
            if errors:
                self.invalid.append((batch, errors))
                return web.json_response(
                    {"error": "not a ListOfSpans", "details": errors}, status=400
                )
        if not isinstance(batch, list):
            return web.json_response({"error": "expected a JSON array of spans"}, status=400)
        self.batches.append(batch)
        self.spans.extend(batch)
        if self.on_batch is not None:
            self.on_batch(batch)
        async with self._arrived:
            self._arrived.notify_all()
        return web.Response(status=202)

    async def _get_spans(self, request: web.Request) -> web.Response:
        service = request.query.get("serviceName")
        spans = [s for s in self.spans if service is None or _service(s) == service]
        return web.json_response(spans)

    async def _get_traces(self, request: web.Request) -> web.Response:
        return web.json_response(list(traces(self.spans).values()))

    async def _get_trace(self, request: web.Request) -> web.Response:
        found = traces(self.spans).get(request.match_info["trace_id"])
        if not found:
            raise web.HTTPNotFound(text=json.dumps({"error": "no such trace"}))
        return web.json_response(found)

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
                mine = [s for s in self.spans if s["traceId"] == trace_id]
                if len(mine) == seen:
                    return mine
                seen = len(mine)
                await asyncio.sleep(settle)


def _service(span: dict[str, Any]) -> str:
    return (span.get("localEndpoint") or {}).get("serviceName", "?")


def traces(spans: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Spans grouped by trace ID, each trace sorted by start time."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        grouped[span["traceId"]].append(span)
    return {k: sorted(v, key=lambda s: s.get("timestamp", 0)) for k, v in grouped.items()}


def _label(span: dict[str, Any], start: int) -> str:
    kind = span.get("kind", "LOCAL")
    remote = (span.get("remoteEndpoint") or {}).get("serviceName")
    target = f" -> {remote}" if remote else ""
    tags = span.get("tags") or {}
    detail = ""
    if "http.status_code" in tags:
        detail += f" [{tags['http.status_code']}]"
    if "sql.query" in tags:
        detail += f" {' '.join(tags['sql.query'].split())[:60]}"
    elif kind == "CLIENT" and "http.path" in tags:
        detail += f" {tags['http.path']}"
    if "error" in tags:
        detail += f" ERROR {tags['error']}"
    offset = (span.get("timestamp", start) - start) / 1000
    duration = span.get("duration", 0) / 1000
    return (
        f"{_service(span)} {kind} {span.get('name', '')}{target}{detail}"
        f"  {duration:.2f} ms (+{offset:.2f} ms)"
    )


def render_tree(spans: Iterable[dict[str, Any]], trace_id: str | None = None) -> str:
    """The span tree of each trace (or of ``trace_id``) with durations, as text.

    Children are ordered by start time; ``+x ms`` is when a span began after its trace's root.
    """
    lines: list[str] = []
    for tid, trace in traces(spans).items():
        if trace_id is not None and tid != trace_id:
            continue
        ids = {s["id"] for s in trace}
        children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for span in trace:
            parent = span.get("parentId")
            children[parent if parent in ids else None].append(span)
        start = trace[0].get("timestamp", 0)
        lines.append(f"trace {tid}")
        roots = children[None]
        for i, root in enumerate(roots):
            _walk(lines, children, root, start, "", i == len(roots) - 1)
    return "\n".join(lines)


def _walk(lines: list[str], children, span: dict[str, Any], start: int, prefix: str, last: bool):
    lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_label(span, start)}")
    kids = children.get(span["id"], [])
    for i, kid in enumerate(kids):
        _walk(lines, children, kid, start, prefix + ("   " if last else "│  "), i == len(kids) - 1)


async def _serve(host: str, port: int, validate: bool) -> None:
    collector = Collector(validate=validate)
    seen: set[str] = set()

    def show(batch: list[dict[str, Any]]) -> None:
        # Print a trace once its root (a span with no parent) has arrived: that is the last.
        for span in batch:
            if "parentId" not in span and span["traceId"] not in seen:
                seen.add(span["traceId"])
                print(render_tree(collector.spans, span["traceId"]), flush=True)

    collector.on_batch = show
    url = await collector.start(host, port)
    print(f"Zipkin collector listening at {url}/api/v2/spans", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await collector.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9411)
    parser.add_argument("--validate", action="store_true", help="refuse invalid batches")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.host, args.port, args.validate))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
