"""A peewee column becomes a JSON schema: its field class's builder, then its default and null.

One builder per peewee field class; a custom field uses its nearest listed ancestor's.

Schemas describe what a client sees on the wire: a row read with asyncpg and encoded by
``sanic_ms.responses.dumps`` (``Decimal`` -> string, ``bytes`` -> hex, ``timedelta`` -> seconds).
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Callable
from typing import Any, Protocol

import peewee
from playhouse import fields as pw_fields
from playhouse import postgres_ext

INT16 = (-(2**15), 2**15 - 1)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
HEX = "^([0-9a-f]{2})*$"
TIME = r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?$"
# PostgreSQL text cannot hold a NUL character: request bodies say so, rather than fail at the
# INSERT (what the database sends back never has one, so responses leave it out).
TEXT = r"^[^\x00]*$"
# A ``timestamp`` column has no time zone, so its values go out without an offset (UTC by the
# examples' convention); an offset is accepted too. ``timestamptz`` columns are RFC 3339.
LOCAL_DATE_TIME = (
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
)


class SchemaError(TypeError):
    """A model field, route or schema source the document cannot describe."""


class FieldSchemas(Protocol):
    """What an array column needs to describe its items (``schemas.Schemas`` is one)."""

    def field(self, field: peewee.Field, *, bare: bool = False) -> dict[str, Any]: ...


def _integer(bounds: tuple[int, int], fmt: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", "minimum": bounds[0], "maximum": bounds[1]}
    if fmt:
        out["format"] = fmt
    return out


def _decimal(field: peewee.DecimalField) -> dict[str, Any]:
    # The wire form is a string (responses.dumps turns Decimal into str, exactly); the pattern
    # keeps values inside NUMERIC(max_digits, decimal_places) so PostgreSQL cannot overflow.
    digits, places = field.max_digits or 10, field.decimal_places or 0
    whole = max(digits - places, 1)
    frac = rf"(\.\d{{1,{places}}})?" if places else ""
    return {
        "type": "string",
        "format": "decimal",
        "pattern": rf"^-?\d{{1,{whole}}}{frac}$",
        "example": "0" if not places else "0." + "0" * places,
    }


def _array(field: postgres_ext.ArrayField, builder: FieldSchemas) -> dict[str, Any]:
    inner = builder.field(field._ArrayField__field, bare=True)
    schema = inner
    for _ in range(field.dimensions or 1):
        schema = {"type": "array", "items": schema}
    return schema


def _enum(field: Any) -> dict[str, Any]:
    values = [member.value for member in field.enum_class]
    kind = "integer" if isinstance(field, pw_fields.IntEnumField) else "string"
    return {"type": kind, "enum": values}


# (field, the Schemas building the document: an array column describes its items with it) -> schema
ColumnBuilder = Callable[[Any, FieldSchemas], dict[str, Any]]

# One entry per peewee field class; a subclass uses its nearest listed ancestor. A field whose
# ancestry reaches none of these (a custom ``Field`` subclass) is a SchemaError at startup.
FIELD_SCHEMAS: dict[type, ColumnBuilder] = {
    peewee.SmallIntegerField: lambda f, b: _integer(INT16, "int32"),
    peewee.IntegerField: lambda f, b: _integer(INT32, "int32"),
    peewee.BigIntegerField: lambda f, b: _integer(INT64, "int64"),
    peewee.AutoField: lambda f, b: _integer((1, INT32[1]), "int32"),
    peewee.BigAutoField: lambda f, b: _integer((1, INT64[1]), "int64"),
    peewee.BitField: lambda f, b: {**_integer(INT64, "int64"), "description": "bit flags"},
    peewee.TimestampField: lambda f, b: {**_integer(INT64, "int64"), "description": "Unix time"},
    peewee.IPField: lambda f, b: {
        **_integer((0, 2**32 - 1), "int64"),
        "description": "IPv4 address as an integer",
    },
    peewee.FloatField: lambda f, b: {"type": "number", "format": "float"},
    peewee.DoubleField: lambda f, b: {"type": "number", "format": "double"},
    peewee.DecimalField: lambda f, b: _decimal(f),
    peewee.CharField: lambda f, b: {"type": "string", "maxLength": f.max_length},
    peewee.FixedCharField: lambda f, b: {"type": "string", "maxLength": f.max_length},
    peewee.TextField: lambda f, b: {"type": "string"},
    peewee.BlobField: lambda f, b: {"type": "string", "format": "hex", "pattern": HEX},
    peewee.BinaryUUIDField: lambda f, b: {"type": "string", "format": "hex", "pattern": HEX},
    peewee.UUIDField: lambda f, b: {"type": "string", "format": "uuid"},
    peewee.DateTimeField: lambda f, b: {
        "type": "string",
        "pattern": LOCAL_DATE_TIME,
        "example": "2024-01-31T12:00:00",
    },
    postgres_ext.DateTimeTZField: lambda f, b: {"type": "string", "format": "date-time"},
    peewee.DateField: lambda f, b: {"type": "string", "format": "date"},
    peewee.TimeField: lambda f, b: {"type": "string", "format": "partial-time", "pattern": TIME},
    peewee.BooleanField: lambda f, b: {"type": "boolean"},
    # JSON columns hold any JSON value: the empty schema.
    peewee.JSONField: lambda f, b: {},
    postgres_ext.JSONField: lambda f, b: {},
    peewee.BareField: lambda f, b: {},
    peewee.AnyField: lambda f, b: {},
    postgres_ext.ArrayField: _array,
    postgres_ext.HStoreField: lambda f, b: {
        "type": "object",
        "additionalProperties": {"type": "string", "nullable": True},
    },
    postgres_ext.TSVectorField: lambda f, b: {
        "type": "string",
        "description": "text search vector",
    },
    postgres_ext.IntervalField: lambda f, b: {"type": "number", "description": "seconds"},
    pw_fields.EnumField: lambda f, b: _enum(f),
    pw_fields.IntEnumField: lambda f, b: _enum(f),
    pw_fields.PickleField: lambda f, b: {
        "type": "string",
        "format": "hex",
        "pattern": HEX,
        "description": "pickled Python value",
    },
}


def field_builder(field: peewee.Field) -> ColumnBuilder:
    """The builder of the nearest class in the field's ancestry listed in FIELD_SCHEMAS."""
    # BEGIN SOLUTION task 3: the FIELD_SCHEMAS entry of the nearest class in the field's MRO
    for cls in type(field).__mro__:
        if cls in FIELD_SCHEMAS:
            return FIELD_SCHEMAS[cls]
    model = getattr(field, "model", None)
    where = f"{model.__name__}.{field.name}" if model else repr(field)
    raise SchemaError(
        f"{where}: no JSON schema for field type {type(field).__name__}; "
        "add it to sanic_ms.openapi.FIELD_SCHEMAS"
    )
    # END SOLUTION


def _json_default(value: Any) -> Any:
    """A field's default as it appears on the wire, or None when it has no constant one."""
    if value is None or callable(value):
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    return None


def with_default_and_null(field: peewee.Field, schema: dict[str, Any]) -> dict[str, Any]:
    """The column's schema completed with its default and whether it may be null."""
    # BEGIN SOLUTION task 3: add the column's default and nullable, then return the schema
    default = _json_default(field.default)
    if default is not None:
        schema["default"] = default
    if field.null:
        schema["nullable"] = True
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema
    # END SOLUTION
