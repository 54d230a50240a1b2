"""``TRACING_BACKEND=otel``: the same instrumentation, through OpenTelemetry's OpenTracing shim.

OpenTracing is archived; OpenTelemetry replaced it. This backend keeps every call site
(``tracing.client_span``, ``query_span``, ``local_span``, the SERVER span middleware) unchanged and
swaps what is behind the OpenTracing API: ``opentelemetry-opentracing-shim`` over the
OpenTelemetry SDK, whose ``BatchSpanProcessor`` exports Zipkin v2 JSON to ``{ZIPKIN_URL}/api/v2/spans``.

What changes for a student reading the spans:

- trace IDs are 128-bit (32 hex); propagation is B3 multi-header (``opentelemetry-propagator-b3``,
  set as the process-wide propagator, which is where OpenTelemetry keeps it);
- the shim passes tags as attributes but not ``span.kind``: ``_KindFromTags`` below restores it;
- OpenTelemetry's Zipkin encoder writes ``"kind": null`` for local spans (the official schema
  refuses it), marks every sampled span ``debug``, and never fills ``remoteEndpoint``:
  ``_ZipkinEncoder`` below fixes all three, so both backends give the same tree;
- export happens on the SDK's own thread; it counts nothing we could show, so ``/_tracing/stats``
  only says which backend runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from opentelemetry.context import Context
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.b3 import B3MultiFormat
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.shim.opentracing_shim import TracerShim
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import Attributes

_KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


class _KindFromTags:
    """An OpenTelemetry tracer that takes the span kind from the OpenTracing ``span.kind`` tag."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        **kwargs: Any,
    ) -> Span:
        tag = attributes.get("span.kind") if attributes else None
        if isinstance(tag, str):
            kind = _KINDS.get(tag, kind)
        return self._tracer.start_span(name, context, kind, attributes, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracer, name)


class _ZipkinEncoder(JsonV2Encoder):
    """OpenTelemetry's Zipkin v2 encoder, made to validate against the official schema."""

    # The library's own JsonV2Encoder narrows its base's signature just so: ignore[override].
    def _encode_span(  # type: ignore[override]
        self, span: Span, encoded_local_endpoint: dict[str, Any]
    ) -> dict[str, Any]:
        out = super()._encode_span(span, encoded_local_endpoint)
        if out.get("kind") is None:
            out.pop("kind", None)  # a local span has no kind; null is not one
        out.pop("debug", None)  # "sampled" is not "debug" (forced sampling, past any collector)
        service = (out.get("tags") or {}).get("peer.service")
        if service and "remoteEndpoint" not in out:
            out["remoteEndpoint"] = {"serviceName": service.lower()}
        return out


class OtelReporter:
    """The SDK's provider and exporter, with the reporter's lifecycle (``start``/``close``)."""

    def __init__(
        self, url: str | None, service_name: str, sample_rate: float, post_timeout: float
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self.provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name}),
            # ParentBased: an incoming B3 decision wins; the rate applies to new traces only.
            sampler=ParentBased(TraceIdRatioBased(sample_rate)),
        )
        if self.url:
            exporter = ZipkinExporter(
                endpoint=f"{self.url}/api/v2/spans", timeout=max(1, round(post_timeout))
            )
            # The attribute's declared type comes from the exporter's v1 branch; v2 is its default.
            exporter.encoder = _ZipkinEncoder()  # type: ignore[assignment]
            self.provider.add_span_processor(
                BatchSpanProcessor(exporter, schedule_delay_millis=500, export_timeout_millis=2000)
            )

    async def start(self) -> None:
        pass  # the BatchSpanProcessor's thread started with it

    def stats(self) -> dict[str, Any]:
        return {"backend": "otel"}

    async def close(self, within: float = 5.0) -> None:
        # Both block (the SDK exports from its own thread): keep them off the event loop.
        await asyncio.to_thread(self.provider.force_flush, int(within * 1000))
        await asyncio.to_thread(self.provider.shutdown)


def build_tracer(name: str, config: Mapping[str, Any]) -> tuple[TracerShim, OtelReporter]:
    """An OpenTracing tracer backed by OpenTelemetry, and what flushes it.

    ``config`` holds every setting (``server.build_tracer`` lays it over ``sanic_ms.settings``).
    """
    set_global_textmap(B3MultiFormat())
    reporter = OtelReporter(
        config["ZIPKIN_URL"],
        name,
        config["TRACING_SAMPLE_RATE"],
        config["TRACING_POST_TIMEOUT"],
    )
    # Duck-typed: _KindFromTags forwards all but start_span to the SDK's tracer.
    kinded = cast(Tracer, _KindFromTags(reporter.provider.get_tracer("sanic_ms")))
    tracer = TracerShim(kinded)
    tracer.sql_params = config["TRACING_SQL_PARAMS"]  # read by spans.query_span
    return tracer, reporter
