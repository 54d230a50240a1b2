"""Schema sources become OpenAPI schemas; named ones are collected as ``components``.

A source is a peewee model, a dict, a list, a Python type, an API class or a ``doc`` field helper.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import inspect
import re
import uuid
from collections.abc import Callable
from typing import Any

import peewee

from . import fields
from .columns import (
    HEX,
    LOCAL_DATE_TIME,
    TEXT,
    TIME,
    SchemaError,
    field_builder,
    with_default_and_null,
)

# Which fields a model schema is for: what a response holds, a full request body, a partial one.
RESPONSE, BODY, PATCH = "response", "body", "patch"
_SUFFIX = {RESPONSE: "", BODY: "Body", PATCH: "Patch"}


def _is_auto_key(field: peewee.Field) -> bool:
    return bool(field.primary_key) and isinstance(field, peewee.AutoField)


class Schemas:
    """Turns schema sources into OpenAPI schemas, collecting named ones in ``components``."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, Any] = {}

    # -- named schemas ------------------------------------------------------------------------

    def _register(
        self, name: str, owner: Any, build: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        known = self._owners.get(name)
        if known is not None and known != owner:
            raise SchemaError(
                f"two different schemas are both named {name!r} ({known!r} and {owner!r}); "
                "rename one"
            )
        if known is None:
            self._owners[name] = owner
            self.components[name] = {}  # placeholder: a model may reference itself
            self.components[name] = build()
        return {"$ref": f"#/components/schemas/{name}"}

    def model_ref(self, model: type[peewee.Model], purpose: str = RESPONSE) -> dict[str, Any]:
        name = model.__name__ + _SUFFIX[purpose]
        return self._register(name, (model, purpose), lambda: self.model(model, purpose))

    # -- peewee -------------------------------------------------------------------------------

    def model(self, model: type[peewee.Model], purpose: str = RESPONSE) -> dict[str, Any]:
        """The object schema of a model's columns (keys are column names, as asyncpg returns)."""
        properties: dict[str, dict[str, Any]] = {}
        required: list[str] = []
        for field in model._meta.sorted_fields:
            auto = _is_auto_key(field)
            if auto and purpose != RESPONSE:
                continue  # the database assigns it; a client cannot send it
            column = self.field(field)
            if purpose != RESPONSE and isinstance(field, peewee._StringField):
                column.setdefault("pattern", TEXT)
            if auto:
                column["readOnly"] = True
            properties[field.column_name] = column
            needed = (
                not field.null
                if purpose == RESPONSE
                else (purpose == BODY and not field.null and field.default is None)
            )
            if needed:
                required.append(field.column_name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if purpose != RESPONSE:
            schema["additionalProperties"] = False  # a misspelt field is an error, not ignored
        if purpose == PATCH:
            schema["minProperties"] = 1  # an update that changes nothing is a mistake
        if (
            model.__doc__
            and purpose == RESPONSE
            and not model.__doc__.startswith(model.__name__ + "(")
        ):
            schema["description"] = inspect.cleandoc(model.__doc__)
        return schema

    def field(self, field: peewee.Field, *, bare: bool = False) -> dict[str, Any]:
        """The schema of one column. ``bare``: the type alone (array items)."""
        if isinstance(field, peewee.ForeignKeyField):
            schema = self.field(field.rel_field, bare=True)
            schema.pop("readOnly", None)
            target = field.rel_model
            self.model_ref(target)
            schema["x-references"] = f"#/components/schemas/{target.__name__}"
            notes = [f"References {target.__name__}.{field.rel_field.column_name}."]
        elif isinstance(field, peewee.DeferredForeignKey):
            raise SchemaError(
                f"{field.model.__name__}.{field.name}: DeferredForeignKey to "
                f"{field.rel_model_name!r} was never resolved (define that model)"
            )
        else:
            schema = field_builder(field)(field, self)
            notes = []
        if bare:
            return schema
        if field.choices and "enum" not in schema:
            schema["enum"] = [
                choice[0] if isinstance(choice, tuple | list) else choice
                for choice in field.choices
            ]
        notes.extend(self._help_text(field, schema))
        text = _sentences(field.verbose_name, schema.pop("description", None), *notes)
        if text:
            schema["description"] = text
        return with_default_and_null(field, schema)

    def _help_text(self, field: peewee.Field, schema: dict[str, Any]) -> list[str]:
        """help_text naming a model or an API class documents the reference; text is kept."""
        help_text = field.help_text
        if help_text is None:
            return []
        if inspect.isclass(help_text):
            name = help_text.__name__
            if issubclass(help_text, peewee.Model):
                self.model_ref(help_text)
            else:
                self.api_ref(help_text)
            schema["x-references"] = f"#/components/schemas/{name}"
            return [f"References {name} (see the {name} schema)."]
        found = _API.search(help_text) if isinstance(help_text, str) else None
        if found:
            schema["x-references"] = found.group(1)
            return [f"References {help_text}."]
        return [str(help_text)]

    # -- everything else ----------------------------------------------------------------------

    def api_ref(self, cls: type) -> dict[str, Any]:
        return self._register(cls.__name__, cls, lambda: self.object_schema(public_attributes(cls)))

    def source(self, source: Any, purpose: str = RESPONSE) -> dict[str, Any]:
        """The schema of anything ``doc.consumes``/``doc.produces`` accept (see sanic_ms.doc)."""
        if source is None:
            return {"description": "always null", "nullable": True, "enum": [None]}
        if inspect.isclass(source):
            if issubclass(source, peewee.Model):
                return self.model_ref(source, purpose)
            if issubclass(source, fields.Field):
                return self._helper(source(), purpose)
            if source in _PYTHON_TYPES:
                return dict(_PYTHON_TYPES[source])
            if issubclass(source, enum.Enum):
                return {"enum": [m.value for m in source]}
            if source.__module__ == "builtins":
                raise SchemaError(f"no JSON schema for the Python type {source.__name__}")
            return self.api_ref(source)
        if isinstance(source, fields.Field):
            return self._helper(source, purpose)
        if isinstance(source, dict):
            return self.object_schema(source)
        if isinstance(source, list | tuple):
            if len(source) != 1:
                raise SchemaError(f"a list source holds exactly one item schema, not {source!r}")
            return {"type": "array", "items": self.source(source[0], purpose)}
        if isinstance(source, peewee.Field):
            return self.field(source)
        raise SchemaError(f"cannot describe {source!r} ({type(source).__name__}) as a schema")

    def object_schema(self, members: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, dict[str, Any]] = {}
        required: list[str] = []
        for name, member in members.items():
            if not isinstance(name, str):
                raise SchemaError(f"object keys must be strings, not {name!r}")
            properties[name] = self.source(member)
            if not (isinstance(member, fields.Field) and not member.required):
                required.append(name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def _helper(self, helper: fields.Field, purpose: str = RESPONSE) -> dict[str, Any]:
        schema = helper.schema()
        if isinstance(helper, fields.Model):
            schema = self.model(helper.model, purpose)
            for name in helper.exclude:
                if schema["properties"].pop(name, None) is None:
                    raise SchemaError(f"doc.Model: {helper.model.__name__} has no column {name!r}")
            required = [n for n in schema.get("required", []) if n not in helper.exclude]
            extra = self.object_schema(helper.extra_fields)
            schema["properties"].update(extra["properties"])
            required += extra.get("required", [])
            schema.pop("required", None)
            if required:
                schema["required"] = required
        elif isinstance(helper, fields.List):
            schema["items"] = self.source(helper.items) if helper.items is not None else {}
        elif isinstance(helper, fields.Dictionary):
            schema.update(self.object_schema(helper.fields))
        if helper.description:
            schema["description"] = helper.description
        if helper.nullable:
            schema["nullable"] = True
        schema.update(helper.extra)
        return schema


_PYTHON_TYPES: dict[type, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer", "format": "int64"},
    float: {"type": "number", "format": "double"},
    str: {"type": "string"},
    dict: {"type": "object"},
    list: {"type": "array", "items": {}},
    dt.datetime: {"type": "string", "pattern": LOCAL_DATE_TIME, "example": "2024-01-31T12:00:00"},
    dt.date: {"type": "string", "format": "date"},
    dt.time: {"type": "string", "format": "partial-time", "pattern": TIME},
    uuid.UUID: {"type": "string", "format": "uuid"},
    decimal.Decimal: {"type": "string", "format": "decimal"},
    bytes: {"type": "string", "format": "hex", "pattern": HEX},
}


# help_text that names an API: "/cities/{id}", "cities: GET /cities/{id}" or a URL. (A slash
# inside a word, as in "km/h", is not a path.)
_API = re.compile(r"(?:^|\s)((?:(?:GET|POST|PUT|PATCH|DELETE)\s+)?(?:https?://\S+|/[\w{}/.:-]*))")


def _sentences(*parts: str | None) -> str:
    """Join description parts; a lone part stays as written (verbose_name is the description)."""
    kept = [part.strip() for part in parts if part and part.strip()]
    if len(kept) == 1:
        return kept[0]
    return " ".join(p if p.endswith((".", "!", "?", ")")) else p + "." for p in kept)


def public_attributes(cls: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(cls).items()
        if not name.startswith("_") and not inspect.isfunction(value)
    }


def model_schema(model: type[peewee.Model], purpose: str = RESPONSE) -> dict[str, Any]:
    """One model's schema on its own (tests, notebooks); references go to ``x-references``."""
    return Schemas().model(model, purpose)
