"""Decorators that describe a route for the OpenAPI document: summary, body, responses, tags.

Usage, as in the 2018 sanic-ms::

    from sanic_ms import doc

    @bp.post("/")
    @doc.summary("Create user")
    @doc.description("Create a user; its city and role must exist.")
    @doc.consumes(Users)
    @doc.produces({"id": int}, status=201)
    @doc.tag("users")
    async def create_user(request): ...

What ``consumes`` and ``produces`` take (a "schema source"):

- a peewee ``Model`` class (its columns; see ``sanic_ms.openapi.model_schema``);
- ``[source]``: a JSON array of that source;
- a ``dict`` of name -> source: a JSON object;
- a Python type: ``int``, ``float``, ``str``, ``bool``, ``dict``, ``list``, ``date``, ``datetime``,
  ``time``, ``UUID``, ``Decimal``;
- a plain class whose public attributes are sources (the 2018 "API class", e.g. ``CityApi``);
- a field helper (``doc.String("the name", required=False)``), a model with changes
  ``doc.Model(Users, extra={"city": Cities}, exclude=["sex"])``, or a raw JSON schema
  ``doc.Schema({...})``.

The decorators write one ``RouteDoc`` record per handler (``sanic_ms.openapi.declarations``); the
field helpers live in ``sanic_ms.openapi.fields``. Both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .openapi.declarations import (
    ATTRIBUTE,
    LOCATIONS,
    Consumes,
    Produces,
    RouteDoc,
    doc_of,
    route_doc,
)
from .openapi.fields import (
    UUID,
    Boolean,
    Date,
    DateTime,
    Dictionary,
    Field,
    Float,
    Integer,
    List,
    Model,
    Schema,
    String,
)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def summary(text: str) -> Callable[[Handler], Handler]:
    """One line shown next to the route in Swagger UI."""

    def decorate(func: Handler) -> Handler:
        # BEGIN SOLUTION task 1: store the text as the summary of the handler's RouteDoc
        doc_of(func).summary = text
        return func
        # END SOLUTION

    return decorate


def description(text: str) -> Callable[[Handler], Handler]:
    """A longer explanation (Markdown)."""

    def decorate(func: Handler) -> Handler:
        # BEGIN SOLUTION task 1: store the text as the description of the handler's RouteDoc
        doc_of(func).description = text
        return func
        # END SOLUTION

    return decorate


def consumes(
    source: Any,
    location: str = "body",
    *,
    content_type: str = "application/json",
    required: bool = True,
    partial: bool = False,
) -> Callable[[Handler], Handler]:
    """Declare what the route reads; requests are validated against it before the handler runs.

    ``location``: "body" (a JSON body), or "query", "header", "cookie" (an object source whose
    properties are the parameters), or "path" (schemas for the route's own parameters).
    """
    if location not in LOCATIONS:
        raise ValueError(f"doc.consumes: location must be one of {LOCATIONS}, not {location!r}")

    def decorate(func: Handler) -> Handler:
        # BEGIN SOLUTION task 2: append a Consumes to the RouteDoc (one body at most)
        docs = doc_of(func)
        if location == "body" and docs.body() is not None:
            raise ValueError(f"doc.consumes: {func.__name__} already declares a body")
        docs.consumes.append(Consumes(source, location, content_type, required, partial))
        return func
        # END SOLUTION

    return decorate


def produces(
    source: Any,
    status: int = 200,
    *,
    description: str | None = None,
    content_type: str = "application/json",
    pagination: bool = False,
    envelope: bool = True,
) -> Callable[[Handler], Handler]:
    """Declare what ``data`` holds in a response (``pagination=True``: returns rows, pagination)."""

    def decorate(func: Handler) -> Handler:
        # BEGIN SOLUTION task 2: append a Produces to the RouteDoc (one per status)
        docs = doc_of(func)
        if any(p.status == status for p in docs.produces):
            raise ValueError(f"doc.produces: {func.__name__} already declares status {status}")
        docs.produces.append(
            Produces(source, status, description, content_type, pagination, envelope)
        )
        return func
        # END SOLUTION

    return decorate


def tag(*names: str) -> Callable[[Handler], Handler]:
    """Group the route under these tags in Swagger UI (default: its blueprint's name)."""

    def decorate(func: Handler) -> Handler:
        # BEGIN SOLUTION task 1: add each name once to the tags of the handler's RouteDoc
        docs = doc_of(func)
        for name in names:
            if name not in docs.tags:
                docs.tags.append(name)
        return func
        # END SOLUTION

    return decorate


def deprecated(func: Handler) -> Handler:
    """Mark the route deprecated."""
    doc_of(func).deprecated = True
    return func


def exclude(func: Handler) -> Handler:
    """Leave the route out of the document."""
    doc_of(func).exclude = True
    return func


__all__ = [
    "ATTRIBUTE",
    "LOCATIONS",
    "UUID",
    "Boolean",
    "Consumes",
    "Date",
    "DateTime",
    "Dictionary",
    "Field",
    "Float",
    "Integer",
    "List",
    "Model",
    "Produces",
    "RouteDoc",
    "Schema",
    "String",
    "consumes",
    "deprecated",
    "description",
    "exclude",
    "produces",
    "route_doc",
    "summary",
    "tag",
]
