"""What a route declares for the document: one ``RouteDoc`` per handler, found through wrappers.

``sanic_ms.doc``'s decorators write these records; the document and the request validators read
them. The record lives in the handler's ``__dict__``: ``functools.wraps`` copies ``__dict__``, so a
wrapping decorator (``@logger``, ...) on either side keeps the docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ATTRIBUTE = "__sanic_ms_doc__"
LOCATIONS = ("body", "query", "header", "cookie", "path")


@dataclass
class Consumes:
    """What a route reads: a JSON body, or query/header/cookie parameters."""

    source: Any
    location: str = "body"
    content_type: str = "application/json"
    required: bool = True
    partial: bool = False  # every field optional (PATCH)


@dataclass
class Produces:
    """One response: its status and what ``data`` holds inside the envelope."""

    source: Any
    status: int = 200
    description: str | None = None
    content_type: str = "application/json"
    pagination: bool = False  # the handler returns (rows, pagination)
    envelope: bool = True  # False: the handler returns its own HTTPResponse body


@dataclass
class RouteDoc:
    """Everything the decorators said about one handler."""

    summary: str | None = None
    description: str | None = None
    consumes: list[Consumes] = field(default_factory=list)
    produces: list[Produces] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    deprecated: bool = False
    exclude: bool = False

    def body(self) -> Consumes | None:
        return next((c for c in self.consumes if c.location == "body"), None)


def route_doc(handler: object) -> RouteDoc | None:
    """The docs attached to a handler (or to a function it wraps), if any."""
    seen = set()
    current: object = handler
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = getattr(current, "__dict__", {}).get(ATTRIBUTE)
        if isinstance(found, RouteDoc):
            return found
        current = getattr(current, "__wrapped__", None)
    return None


def doc_of(func: Callable[..., Any]) -> RouteDoc:
    """The handler's RouteDoc, created on first use (or the one of a function it wraps)."""
    found = func.__dict__.get(ATTRIBUTE)
    if not isinstance(found, RouteDoc):
        found = route_doc(func) or RouteDoc()
        setattr(func, ATTRIBUTE, found)
    return found
