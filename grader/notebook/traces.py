"""A trace as a waterfall: the spans of one trace (Zipkin v2 JSON) as bars, parents first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Bar:
    """One span as a bar of a waterfall: depth in the tree, start and length in ms."""

    depth: int
    start_ms: float
    duration_ms: float
    service: str
    label: str
    kind: str


def waterfall(spans: list[dict[str, Any]]) -> list[Bar]:
    """The spans of one trace (Zipkin v2 JSON) in tree order, parents above their children."""
    if not spans:
        return []
    ids = {s["id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parentId")
        children.setdefault(parent if parent in ids else None, []).append(span)
    for kids in children.values():
        kids.sort(key=lambda s: s.get("timestamp", 0))
    origin = min(s.get("timestamp", 0) for s in spans)
    bars: list[Bar] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        tags = span.get("tags") or {}
        service = (span.get("localEndpoint") or {}).get("serviceName", "?")
        kind = span.get("kind", "LOCAL")
        label = f"{service}: {span.get('name', '')}"
        if "sql.query" in tags:
            label = f"{service} -> postgresql: {' '.join(tags['sql.query'].split())[:40]}"
        elif kind == "CLIENT":
            remote = (span.get("remoteEndpoint") or {}).get("serviceName") or tags.get(
                "peer.service", "?"
            )
            label = f"{service} -> {remote}: {span.get('name', '')} {tags.get('http.path', '')}"
        bars.append(
            Bar(
                depth,
                (span.get("timestamp", origin) - origin) / 1000,
                span.get("duration", 0) / 1000,
                service,
                label.strip(),
                kind,
            )
        )
        for kid in children.get(span["id"], []):
            walk(kid, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return bars
