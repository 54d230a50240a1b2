"""Described values for dicts and API classes, where a bare type cannot carry a description.

Used as ``doc.String("the name", required=False)``, ``doc.List(Users)``,
``doc.Model(Users, extra={"city": Cities}, exclude=["sex"])`` or ``doc.Schema({...})``
(``sanic_ms.doc`` re-exports them); ``sanic_ms.openapi.schemas`` turns them into schemas.
"""

from __future__ import annotations

from typing import Any


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

    def schema(self) -> dict[str, Any]:
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

    def __init__(self, fields: dict[str, Any] | None = None, *args: Any, **kwargs: Any):
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
        extra: dict[str, Any] | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        **kwargs: Any,
    ):
        self.model = model
        self.extra_fields = dict(extra or {})
        self.exclude = tuple(exclude)
        super().__init__(*args, **kwargs)


class Schema(Field):
    """A raw JSON schema (OpenAPI 3.0 dialect), used as given."""

    def __init__(self, schema: dict[str, Any], *args: Any, **kwargs: Any):
        self.raw = dict(schema)
        super().__init__(*args, **kwargs)

    def schema(self) -> dict[str, Any]:
        return dict(self.raw)
