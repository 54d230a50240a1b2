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
- a field helper below (``doc.String("the name", required=False)``), a model with changes
  ``doc.Model(Users, extra={"city": Cities}, exclude=["sex"])``, or a raw JSON schema
  ``doc.Schema({...})``.

The metadata lives in one ``RouteDoc`` object in the handler's ``__dict__``: ``functools.wraps``
copies ``__dict__``, so a wrapping decorator (``@logger``, ...) on either side keeps the docs.
"""

from __future__ import annotations

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


def route_doc(handler: Any) -> RouteDoc | None:
    """The docs attached to a handler (or to a function it wraps), if any."""
    seen = set()
    while handler is not None and id(handler) not in seen:
        seen.add(id(handler))
        found = getattr(handler, "__dict__", {}).get(ATTRIBUTE)
        if found is not None:
            return found
        handler = getattr(handler, "__wrapped__", None)
    return None


def _doc_of(func: Any) -> RouteDoc:
    found = func.__dict__.get(ATTRIBUTE)
    if found is None:
        found = route_doc(func) or RouteDoc()
        setattr(func, ATTRIBUTE, found)
    return found


def summary(text: str):
    """One line shown next to the route in Swagger UI."""

    def decorate(func):
        # BEGIN SOLUTION task 1: store the text as the summary of the handler's RouteDoc
        _doc_of(func).summary = text
        return func
        # END SOLUTION

    return decorate


def description(text: str):
    """A longer explanation (Markdown)."""

    def decorate(func):
        # BEGIN SOLUTION task 1: store the text as the description of the handler's RouteDoc
        _doc_of(func).description = text
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
):
    """Declare what the route reads; requests are validated against it before the handler runs.

    ``location``: "body" (a JSON body), or "query", "header", "cookie" (an object source whose
    properties are the parameters), or "path" (schemas for the route's own parameters).
    """
    if location not in LOCATIONS:
        raise ValueError(f"doc.consumes: location must be one of {LOCATIONS}, not {location!r}")

    def decorate(func):
        # BEGIN SOLUTION task 2: append a Consumes to the RouteDoc (one body at most)
        docs = _doc_of(func)
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
):
    """Declare what ``data`` holds in a response (``pagination=True``: returns rows, pagination)."""

    def decorate(func):
        # BEGIN SOLUTION task 2: append a Produces to the RouteDoc (one per status)
        docs = _doc_of(func)
        if any(p.status == status for p in docs.produces):
            raise ValueError(f"doc.produces: {func.__name__} already declares status {status}")
        docs.produces.append(
            Produces(source, status, description, content_type, pagination, envelope)
        )
        return func
        # END SOLUTION

    return decorate


def tag(*names: str):
    """Group the route under these tags in Swagger UI (default: its blueprint's name)."""

    def decorate(func):
        # BEGIN SOLUTION task 1: add each name once to the tags of the handler's RouteDoc
        docs = _doc_of(func)
        for name in names:
            if name not in docs.tags:
                docs.tags.append(name)
        return func
        # END SOLUTION

    return decorate


def deprecated(func):
    """Mark the route deprecated."""
    _doc_of(func).deprecated = True
    return func


def exclude(func):
    """Leave the route out of the document."""
    _doc_of(func).exclude = True
    return func


# Field helpers: for dicts and API classes, where a bare type cannot carry a description.


class Field:
    """A described value. ``required=False`` makes it optional in its object."""

    type: str | None = None
    format: str | None = None

    def __init__(
        self,
        description: str | None = None,
        required: bool = True,
        nullable: bool = False,
        **extra: Any,
    ):
        self.description = description
        self.required = required
        self.nullable = nullable
        self.extra = extra  # any other schema keyword: maxLength, minimum, enum, example...

    def schema(self) -> dict:
        out: dict[str, Any] = {}
        if self.type:
            out["type"] = self.type
        if self.format:
            out["format"] = self.format
        return out


class Integer(Field):
    type, format = "integer", "int64"


class Float(Field):
    type, format = "number", "double"


class String(Field):
    type = "string"


class Boolean(Field):
    type = "boolean"


class Date(Field):
    type, format = "string", "date"


class DateTime(Field):
    type, format = "string", "date-time"


class UUID(Field):
    type, format = "string", "uuid"


class List(Field):
    """A JSON array of ``items`` (any schema source)."""

    type = "array"

    def __init__(self, items: Any = None, *args: Any, **kwargs: Any):
        self.items = items
        super().__init__(*args, **kwargs)


class Dictionary(Field):
    """A JSON object with ``fields`` (name -> schema source)."""

    type = "object"

    def __init__(self, fields: dict | None = None, *args: Any, **kwargs: Any):
        self.fields = fields or {}
        super().__init__(*args, **kwargs)


class Model(Field):
    """A peewee model's columns, changed: ``doc.Model(Users, extra={"city": Cities})``.

    For handlers that return a row plus what they fetched elsewhere, or fewer columns.
    """

    type = "object"

    def __init__(
        self,
        model: Any,
        *args: Any,
        extra: dict | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        **kwargs: Any,
    ):
        self.model = model
        self.extra_fields = dict(extra or {})
        self.exclude = tuple(exclude)
        super().__init__(*args, **kwargs)


class Schema(Field):
    """A raw JSON schema (OpenAPI 3.0 dialect), used as given."""

    def __init__(self, schema: dict, *args: Any, **kwargs: Any):
        self.raw = dict(schema)
        super().__init__(*args, **kwargs)

    def schema(self) -> dict:
        return dict(self.raw)


__all__ = [
    "ATTRIBUTE",
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
