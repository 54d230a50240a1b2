"""Zipkin v2 JSON: one finished span as the dict Zipkin's ``POST /api/v2/spans`` takes.

Times are integer microseconds, tags are strings, and OpenTracing's ``span.kind`` and ``peer.*``
tags become Zipkin's ``kind`` and ``remoteEndpoint`` (see ``specs/zipkin2-api.yaml``).
"""

from __future__ import annotations

from typing import Any

from basictracer.span import BasicSpan

KINDS = {"server": "SERVER", "client": "CLIENT", "producer": "PRODUCER", "consumer": "CONSUMER"}
# OpenTracing tags that become Zipkin fields instead of tags.
_FIELDS = frozenset({"span.kind", "peer.service", "peer.ipv4", "peer.ipv6", "peer.port"})


def _tag_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _annotation(log_data: Any) -> dict[str, Any]:
    kv = log_data.key_values
    if set(kv) == {"event"}:
        value = str(kv["event"])
    else:
        value = " ".join(f"{k}={v}" for k, v in kv.items())
    return {"timestamp": int(log_data.timestamp * 1_000_000), "value": value}


def to_zipkin(span: BasicSpan, local_endpoint: dict[str, Any]) -> dict[str, Any]:
    """One finished basictracer span as a Zipkin v2 ``Span`` dict."""
    # BEGIN SOLUTION task 3: build the Zipkin v2 span dict (ids, name, microseconds, kind, tags)
    context = span.context
    tags = span.tags
    out: dict[str, Any] = {
        "traceId": context.trace_id,
        "id": context.span_id,
        "name": (span.operation_name or "").lower(),
        "timestamp": int(span.start_time * 1_000_000),
        # Zipkin reads a 0 duration as "unknown": a span always lasted at least a microsecond.
        "duration": max(1, round(span.duration * 1_000_000)),
        "localEndpoint": local_endpoint,
    }
    if span.parent_id is not None:
        out["parentId"] = span.parent_id
    kind = KINDS.get(tags.get("span.kind"))
    if kind is not None:
        out["kind"] = kind
    remote: dict[str, Any] = {}
    if "peer.service" in tags:
        remote["serviceName"] = str(tags["peer.service"]).lower()
    if "peer.ipv4" in tags:
        remote["ipv4"] = str(tags["peer.ipv4"])
    if "peer.ipv6" in tags:
        remote["ipv6"] = str(tags["peer.ipv6"])
    if tags.get("peer.port"):
        remote["port"] = int(tags["peer.port"])
    if remote:
        out["remoteEndpoint"] = remote
    plain = {k: _tag_value(v) for k, v in tags.items() if k not in _FIELDS}
    if plain:
        out["tags"] = plain
    if span.logs:
        out["annotations"] = [_annotation(entry) for entry in span.logs]
    if getattr(context, "debug", False):
        out["debug"] = True
    return out
    # END SOLUTION
