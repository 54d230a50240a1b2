"""The non-blocking reporter: finished spans queued on the request path, posted in batches.

The request path only does ``queue.put_nowait(span)``. Everything costly (converting, JSON,
HTTP) happens in the reporter's background task, which wakes every ``flush_interval`` seconds
(or sooner once a full batch is waiting), so spans leave in batches, never one by one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
from basictracer.recorder import SpanRecorder
from basictracer.span import BasicSpan

from .zipkin import to_zipkin

log = logging.getLogger("sanic_ms.tracing")

CONVERT_SLICE = 50  # spans converted to Zipkin JSON between two yields to the event loop


class ZipkinReporter(SpanRecorder):  # type: ignore[misc]  # basictracer ships no types
    """Queues finished, sampled spans and posts them in batches to ``{url}/api/v2/spans``.

    Never blocks or raises into the caller: a full queue drops the span, a failed post drops its
    batch and backs off (doubling up to ``max_backoff``). Counters: ``queued`` (accepted),
    ``sent`` (the collector said so), ``dropped`` (queue full, refused or never delivered, left
    over at close), ``unknown`` (the batch went out but no answer came in time: the collector
    may well have it), ``failed_posts``. Every queued span ends in exactly one of the three.
    """

    def __init__(
        self,
        url: str,
        service_name: str,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        post_timeout: float = 2.0,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stats_interval: float = 60.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.endpoint = f"{self.url}/api/v2/spans"
        self.service_name = service_name
        self.local_endpoint = {"serviceName": service_name.lower()}
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.post_timeout = post_timeout
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.queue: asyncio.Queue[BasicSpan] = asyncio.Queue(maxsize=queue_size)
        self.queued = self.sent = self.dropped = self.unknown = 0
        self.failed_posts = self.batches = 0
        self.backoff = 0.0
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._wake: asyncio.Event | None = None
        self._warned_full = False
        self.stats_interval = stats_interval  # seconds between counter lines in the log; 0: none
        self._logged_at = time.monotonic()
        self._logged: dict[str, Any] = {}

    # The request path: called by span.finish().
    def record_span(self, span: BasicSpan) -> None:
        # BEGIN SOLUTION task 4: queue a sampled span with put_nowait; when full, drop and count it
        if not span.context.sampled:
            return
        queue = self.queue
        # Closed, or backing off with a probe batch already waiting: keep nothing more, so a
        # dead collector costs a counter increment per span, not a growing heap to collect.
        if self._closed or (self.backoff and queue.qsize() >= self.batch_size):
            self.dropped += 1
            return
        try:
            queue.put_nowait(span)
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._warned_full:
                self._warned_full = True
                log.warning(
                    "tracing queue full (%d spans): dropping spans. %s", queue.maxsize, self.stats()
                )
            return
        self.queued += 1
        # A full batch wakes the task early, unless it is backing off from a failing collector.
        if queue.qsize() == self.batch_size and self._wake is not None and not self.backoff:
            self._wake.set()
        # END SOLUTION

    def stats(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "sent": self.sent,
            "dropped": self.dropped,
            "unknown": self.unknown,
            "failed_posts": self.failed_posts,
            "batches": self.batches,
            "queue_depth": self.queue.qsize(),
            "backoff_seconds": self.backoff,
        }

    async def start(self) -> None:
        """Open the HTTP session and start the background task (inside the running loop)."""
        if self._task is not None:
            return
        self._wake = asyncio.Event()
        # Whether a post's body went out tells a lost batch from one whose fate is unknown.
        written = aiohttp.TraceConfig()
        written.on_request_chunk_sent.append(_mark_written)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.post_timeout),
            headers={"Content-Type": "application/json"},
            trace_configs=[written],
        )
        self._task = asyncio.create_task(self._run(), name=f"zipkin-reporter-{self.service_name}")

    def _take_batch(self) -> list[BasicSpan]:
        queue, batch = self.queue, list[BasicSpan]()
        while len(batch) < self.batch_size:
            try:
                batch.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _convert(self, batch: list[BasicSpan]) -> list[dict[str, Any]]:
        # A batch of 500 spans takes milliseconds to convert: in slices, letting requests run in
        # between, or every request waiting behind it would feel it in its latency.
        local, out = self.local_endpoint, list[dict[str, Any]]()
        for done, span in enumerate(batch):
            if done and done % CONVERT_SLICE == 0:
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:  # close() gave up: none of these will be posted
                    self.dropped += len(out) + len(batch) - done
                    raise
            try:
                out.append(to_zipkin(span, local))
            except Exception:  # one odd span (a peer.port of "abc") must not cost the batch
                self.dropped += 1
                log.warning("dropping a span Zipkin cannot take: %r", span.tags, exc_info=True)
        return out

    async def _post(self, spans: list[BasicSpan], limit: float | None = None) -> bool:
        batch = await self._convert(spans)
        if not batch:
            return True
        assert self._session is not None, "post before start()"
        body = orjson.dumps(batch)
        post = SimpleNamespace(written=False)
        try:
            async with self._session.post(
                self.endpoint,
                data=body,
                timeout=aiohttp.ClientTimeout(total=limit or self.post_timeout),
                trace_request_ctx=post,
            ) as response:
                if response.status >= 300:
                    raise aiohttp.ClientResponseError(
                        response.request_info,
                        (),
                        status=response.status,
                        message=response.reason or "",
                    )
        except asyncio.CancelledError:
            self._lost(len(batch), post.written)  # close() gave up waiting on this post
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failed_posts += 1
            # An answer (any status) is a verdict; silence after the body went out is not.
            answered = isinstance(exc, aiohttp.ClientResponseError)
            self._lost(len(batch), post.written and not answered)
            if self.backoff == 0.0:
                log.warning(
                    "Zipkin collector at %s failed (%s: %s); dropping spans and backing off. %s",
                    self.endpoint,
                    type(exc).__name__,
                    exc,
                    self.stats(),
                )
            self.backoff = min(self.max_backoff, max(self.min_backoff, self.backoff * 2))
            self._trim(self.batch_size)  # keep one probe batch for the next try
            return False
        self.sent += len(batch)
        self.batches += 1
        self._warned_full = False
        if self.backoff:
            log.info("Zipkin collector at %s is back. %s", self.endpoint, self.stats())
            self.backoff = 0.0
        return True

    def _lost(self, spans: int, maybe_delivered: bool) -> None:
        if maybe_delivered:
            self.unknown += spans
        else:
            self.dropped += spans

    async def _sleep(self, seconds: float) -> None:
        assert self._wake is not None, "sleep before start()"
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _run(self) -> None:
        # Any bug in here must not kill the reporter silently: log it and carry on.
        while not self._closed:
            try:
                if self.backoff or self.queue.qsize() < self.batch_size:
                    await self._sleep(self.backoff or self.flush_interval)
                if self._closed:  # close() may have run while we slept
                    break  # type: ignore[unreachable]  # mypy keeps the loop test's narrowing
                # Everything waiting goes now, then only full batches: spans finishing while a
                # post is in flight wait for the next wake, or each post would carry a handful.
                posted = not self.queue.qsize() or await self._post(self._take_batch())
                while posted and self.queue.qsize() >= self.batch_size and not self._closed:
                    posted = await self._post(self._take_batch())
                self._log_counters()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("tracing reporter error; continuing")
                self.backoff = self.max_backoff

    def _log_counters(self) -> None:
        # A periodic line, only when something happened, so an idle service stays quiet.
        if not self.stats_interval or time.monotonic() - self._logged_at < self.stats_interval:
            return
        self._logged_at = time.monotonic()
        counters = {k: v for k, v in self.stats().items() if k not in ("queue_depth",)}
        if counters != self._logged:
            self._logged = counters
            log.info("tracing reporter: %s", self.stats())

    async def flush(self, within: float = 5.0) -> None:
        """Post everything queued now, giving up (and counting drops) after ``within`` s."""
        deadline = time.monotonic() + within
        while self.queue.qsize():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not await self._post(self._take_batch(), limit=min(self.post_timeout, left)):
                break  # the collector is failing: don't spend the whole shutdown on it
        leftover = self.queue.qsize()
        if leftover:
            self.dropped += leftover
            self._take_all()

    def _trim(self, keep: int) -> None:
        queue = self.queue
        while queue.qsize() > keep:
            queue.get_nowait()
            self.dropped += 1

    def _take_all(self) -> None:
        while True:
            try:
                self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return

    async def close(self, within: float = 5.0) -> None:
        """Stop the task, flush what is queued within ``within`` seconds, close the session."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + within
        if self._task is not None and self._wake is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(self._task, within)
            except (TimeoutError, asyncio.CancelledError):
                pass
        try:
            if self._session is not None:
                await self.flush(max(0.0, deadline - time.monotonic()))
        finally:
            if self._session is not None:
                await self._session.close()
        log.info("tracing reporter closed: %s", self.stats())


async def _mark_written(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestChunkSentParams,
) -> None:
    if context.trace_request_ctx is not None:
        context.trace_request_ctx.written = True
