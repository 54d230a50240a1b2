"""Zipkin v2 spans as text: grouped by trace, and drawn as a tree with durations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any


def service_of(span: dict[str, Any]) -> str:
    """The name of the service that reported ``span``."""
    return str((span.get("localEndpoint") or {}).get("serviceName", "?"))


def traces(spans: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Spans grouped by trace ID, each trace sorted by start time."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        grouped[span["traceId"]].append(span)
    return {k: by_start(v) for k, v in grouped.items()}


def by_start(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``spans`` in the order they started."""
    return sorted(spans, key=lambda s: s.get("timestamp", 0))


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
        f"{service_of(span)} {kind} {span.get('name', '')}{target}{detail}"
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


def _walk(
    lines: list[str],
    children: dict[str | None, list[dict[str, Any]]],
    span: dict[str, Any],
    start: int,
    prefix: str,
    last: bool,
) -> None:
    lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_label(span, start)}")
    kids = children.get(span["id"], [])
    for i, kid in enumerate(kids):
        _walk(lines, children, kid, start, prefix + ("   " if last else "│  "), i == len(kids) - 1)
