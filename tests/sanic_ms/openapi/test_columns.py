"""peewee columns as JSON Schema: every field class of peewee 4, formats, bounds, unknown types."""

from __future__ import annotations

import enum
import inspect
import re
import warnings

import jsonschema
import peewee
import pytest
from playhouse import fields as pw_fields
from playhouse import postgres_ext

from sanic_ms.openapi import SchemaError, model_schema
from sanic_ms.validation import to_json_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Cities(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=64)


# Each concrete column field of peewee 4 (core, postgres_ext, playhouse.fields), how to make one,
# and the JSON type it must get. A new field class in a peewee upgrade fails the test below.
FIELDS = {
    peewee.IntegerField: (lambda: peewee.IntegerField(), "integer"),
    peewee.BigIntegerField: (lambda: peewee.BigIntegerField(), "integer"),
    peewee.SmallIntegerField: (lambda: peewee.SmallIntegerField(), "integer"),
    peewee.AutoField: (lambda: peewee.AutoField(), "integer"),
    peewee.BigAutoField: (lambda: peewee.BigAutoField(), "integer"),
    peewee.IdentityField: (lambda: peewee.IdentityField(), "integer"),
    peewee.PrimaryKeyField: (lambda: peewee.PrimaryKeyField(), "integer"),
    peewee.FloatField: (lambda: peewee.FloatField(), "number"),
    peewee.DoubleField: (lambda: peewee.DoubleField(), "number"),
    peewee.DecimalField: (lambda: peewee.DecimalField(max_digits=6, decimal_places=2), "string"),
    peewee.CharField: (lambda: peewee.CharField(), "string"),
    peewee.FixedCharField: (lambda: peewee.FixedCharField(max_length=3), "string"),
    peewee.TextField: (lambda: peewee.TextField(), "string"),
    peewee.BlobField: (lambda: peewee.BlobField(), "string"),
    peewee.BitField: (lambda: peewee.BitField(), "integer"),
    peewee.BigBitField: (lambda: peewee.BigBitField(), "string"),
    peewee.UUIDField: (lambda: peewee.UUIDField(), "string"),
    peewee.BinaryUUIDField: (lambda: peewee.BinaryUUIDField(), "string"),
    peewee.DateTimeField: (lambda: peewee.DateTimeField(), "string"),
    peewee.DateField: (lambda: peewee.DateField(), "string"),
    peewee.TimeField: (lambda: peewee.TimeField(), "string"),
    peewee.TimestampField: (lambda: peewee.TimestampField(), "integer"),
    peewee.IPField: (lambda: peewee.IPField(), "integer"),
    peewee.BooleanField: (lambda: peewee.BooleanField(), "boolean"),
    peewee.JSONField: (lambda: peewee.JSONField(), None),
    peewee.BareField: (lambda: peewee.BareField(), None),
    peewee.AnyField: (lambda: peewee.AnyField(), None),
    peewee.ForeignKeyField: (lambda: peewee.ForeignKeyField(Cities), "integer"),
    postgres_ext.JSONField: (lambda: postgres_ext.JSONField(), None),
    postgres_ext.BinaryJSONField: (lambda: postgres_ext.BinaryJSONField(), None),
    postgres_ext.ArrayField: (lambda: postgres_ext.ArrayField(peewee.IntegerField), "array"),
    postgres_ext.DateTimeTZField: (lambda: postgres_ext.DateTimeTZField(), "string"),
    postgres_ext.HStoreField: (lambda: postgres_ext.HStoreField(), "object"),
    postgres_ext.TSVectorField: (lambda: postgres_ext.TSVectorField(), "string"),
    postgres_ext.IntervalField: (lambda: postgres_ext.IntervalField(), "number"),
    pw_fields.CompressedField: (lambda: pw_fields.CompressedField(), "string"),
    pw_fields.PickleField: (lambda: pw_fields.PickleField(), "string"),
    pw_fields.EnumField: (lambda: pw_fields.EnumField(Color), "string"),
    pw_fields.IntEnumField: (lambda: pw_fields.IntEnumField(Level), "integer"),
}
# Not columns, or not fields a model declares directly.
NOT_COLUMNS = {
    peewee.Field,
    peewee.MetaField,
    peewee.ManyToManyField,
    peewee.VirtualField,
    peewee.CompositeKey,
    peewee.FieldAlias,
    peewee.DeferredForeignKey,
    peewee._StringField,
    peewee._BaseFormattedField,
}


def field_classes():
    for module in (peewee, postgres_ext, pw_fields):
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, peewee.Field)
                and value.__module__ == module.__name__
            ):
                yield value


def model_with(field: peewee.Field, name: str = "value") -> type[peewee.Model]:
    primary = {} if field.primary_key else {"id": peewee.AutoField()}
    return type("Holder", (peewee.Model,), {"__module__": __name__, **primary, name: field})


def test_every_peewee_column_field_class_is_listed_here():
    unlisted = {c.__name__ for c in field_classes()} - {c.__name__ for c in [*FIELDS, *NOT_COLUMNS]}
    assert not unlisted, f"new peewee field classes to describe: {sorted(unlisted)}"


@pytest.mark.parametrize("cls", list(FIELDS), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_each_field_type_gets_its_json_type(cls):
    make, json_type = FIELDS[cls]
    with warnings.catch_warnings():
        # PrimaryKeyField, the 2018 spelling of AutoField, warns that it is deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        field = make()
    model = model_with(field)
    schema = model_schema(model)
    column = next(f.column_name for f in model._meta.sorted_fields if f.name == "value")
    prop = schema["properties"][column]
    assert prop.get("type") == json_type
    if json_type is None:  # JSON columns accept any JSON value
        jsonschema.validate({"a": [1, None]}, to_json_schema(prop, {}))


def test_formats_and_bounds_follow_the_column():
    class Row(peewee.Model):
        small = peewee.SmallIntegerField()
        big = peewee.BigIntegerField()
        price = peewee.DecimalField(max_digits=6, decimal_places=2)
        code = peewee.UUIDField()
        born = peewee.DateField()
        at = postgres_ext.DateTimeTZField()
        tags = postgres_ext.ArrayField(peewee.CharField, field_kwargs={"max_length": 8})
        color = pw_fields.EnumField(Color)

    props = model_schema(Row)["properties"]
    assert (props["small"]["minimum"], props["small"]["maximum"]) == (-32768, 32767)
    assert props["big"]["format"] == "int64"
    assert props["code"]["format"] == "uuid" and props["born"]["format"] == "date"
    assert props["at"]["format"] == "date-time"
    assert props["tags"] == {"type": "array", "items": {"type": "string", "maxLength": 8}}
    assert props["color"]["enum"] == ["red", "blue"]
    price = re.compile(props["price"]["pattern"])
    assert price.match("1234.50") and price.match("-3")
    assert not price.match("12345.00") and not price.match("1.505")  # NUMERIC(6, 2) limits


def test_an_unknown_field_type_fails_loudly():
    class MoneyField(peewee.Field):
        field_type = "MONEY"

    class Wallet(peewee.Model):
        balance = MoneyField()

    with pytest.raises(SchemaError, match=r"Wallet\.balance: no JSON schema for field type"):
        model_schema(Wallet)
