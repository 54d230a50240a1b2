"""The OpenAPI document: peewee models as JSON Schema, routes as operations, requests validated."""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import re
import warnings

import aiohttp
import jsonschema
import peewee
import pytest
from openapi_spec_validator import validate
from playhouse import fields as pw_fields
from playhouse import postgres_ext
from sanic import Blueprint, Sanic
from sanic.response import text

import sanic_ms
from sanic_ms import doc, openapi
from sanic_ms.openapi import BODY, PATCH, RESPONSE, SchemaError, Schemas, model_schema
from sanic_ms.serve import serve
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


def test_required_when_not_null_without_default():
    class Users(peewee.Model):
        id = peewee.AutoField()
        created = peewee.DateTimeField(default=dt.datetime.utcnow)
        name = peewee.CharField(max_length=128, verbose_name="user's name")
        nickname = peewee.CharField(null=True)
        age = peewee.IntegerField(default=18)

    body = model_schema(Users, BODY)
    assert body["required"] == ["name"]
    assert "id" not in body["properties"]  # the database assigns it
    assert body["additionalProperties"] is False
    assert body["properties"]["name"] == {
        "type": "string",
        "maxLength": 128,
        "description": "user's name",
        "pattern": "^[^\\x00]*$",  # PostgreSQL text cannot store NUL
    }
    assert body["properties"]["nickname"]["nullable"] is True
    assert body["properties"]["age"]["default"] == 18

    response = model_schema(Users, RESPONSE)
    assert set(response["required"]) == {"id", "created", "name", "age"}
    assert response["properties"]["id"]["readOnly"] is True

    patch = model_schema(Users, PATCH)
    assert "required" not in patch and patch["minProperties"] == 1


def test_help_text_naming_a_model_or_an_api_documents_the_reference():
    class RoleApi:
        id = int
        name = doc.String("role name")

    class Users(peewee.Model):
        city = peewee.ForeignKeyField(Cities, verbose_name="home city")
        role_id = peewee.IntegerField(help_text=RoleApi)
        boss_id = peewee.IntegerField(help_text=Cities)
        team_id = peewee.IntegerField(help_text="teams: GET /teams/{id}")
        speed = peewee.IntegerField(help_text="in km/h")

    schemas = Schemas()
    props = schemas.model(Users)["properties"]
    assert props["city_id"]["x-references"] == "#/components/schemas/Cities"
    assert props["city_id"]["description"].startswith("home city. References Cities.id")
    assert props["role_id"]["x-references"] == "#/components/schemas/RoleApi"
    assert props["boss_id"]["x-references"] == "#/components/schemas/Cities"
    assert props["team_id"]["x-references"] == "GET /teams/{id}"
    assert "x-references" not in props["speed"] and props["speed"]["description"] == "in km/h"
    # The referenced schemas are in the document, so a reader can follow the reference.
    assert schemas.components["RoleApi"]["properties"]["name"] == {
        "type": "string",
        "description": "role name",
    }
    assert schemas.components["Cities"]["properties"]["name"]["maxLength"] == 64


def test_an_unknown_field_type_fails_loudly():
    class MoneyField(peewee.Field):
        field_type = "MONEY"

    class Wallet(peewee.Model):
        balance = MoneyField()

    with pytest.raises(SchemaError, match=r"Wallet\.balance: no JSON schema for field type"):
        model_schema(Wallet)


async def test_an_undescribable_model_stops_the_server_at_startup():
    class OddField(peewee.Field):
        field_type = "ODD"

    class Odd(peewee.Model):
        value = OddField()

    app = Sanic("odd_model")
    openapi.setup(app)

    @app.get("/odd")
    @doc.produces(Odd)
    async def get_odd(request):
        return text("never")

    with pytest.raises(SchemaError, match=r"Odd\.value"):
        async with serve(app):
            pass


def test_sources_other_than_models():
    schemas = Schemas()
    assert schemas.source([{"id": int, "at": dt.date}]) == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "format": "int64"},
                "at": {"type": "string", "format": "date"},
            },
            "required": ["id", "at"],
        },
    }
    optional = schemas.source({"q": doc.String("search", required=False)})
    assert "required" not in optional
    with pytest.raises(SchemaError, match="cannot describe"):
        schemas.source(object())
    with pytest.raises(SchemaError, match="exactly one item"):
        schemas.source([int, str])


# -- the document ---------------------------------------------------------------------------


class Users(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=16)
    age = peewee.IntegerField()
    city_id = peewee.IntegerField(null=True)


def documented_app(name: str) -> Sanic:
    """A service with every kind of declaration, and a counter of handler runs."""
    app = sanic_ms.create_app(name)
    bp = Blueprint("people")
    app.ctx.runs = 0

    @bp.post("/people")
    @doc.summary("Create a person")
    @doc.consumes(Users)
    @doc.produces(Users)
    async def create_person(request):
        request.app.ctx.runs += 1
        return {"id": 1, **request.ctx.data}

    @bp.get("/people")
    @doc.consumes({"page": doc.Integer(required=False, minimum=1)}, location="query")
    @doc.produces([Users], pagination=True)
    async def list_people(request):
        return [], {"page": 1, "size": 20, "total": 0}

    @bp.get("/people/<id:int>/files/<name:str>")
    @doc.consumes({"id": doc.Integer(minimum=1, maximum=1000)}, location="path")
    async def get_file(request, id: int, name: str):
        return {"id": id, "name": name}

    @bp.put("/people/<id:int>")
    @doc.consumes(Users, partial=True)
    @doc.tag("admin")
    async def update_person(request, id: int):
        request.app.ctx.runs += 1
        return request.ctx.data

    @bp.get("/hidden")
    @doc.exclude
    async def hidden(request):
        return {}

    app.blueprint(bp)
    return app


def built(app: Sanic) -> dict:
    app.router.finalize()
    spec, _ = openapi.build(app)
    return spec


def test_the_document_is_valid_openapi_built_from_the_routes():
    spec = built(documented_app("doc_routes"))
    validate(spec)
    assert spec["openapi"].startswith("3.0")
    assert set(spec["paths"]) == {"/people", "/people/{id}", "/people/{id}/files/{name}"}
    people = spec["paths"]["/people"]
    assert people["post"]["summary"] == "Create a person"
    assert people["post"]["tags"] == ["people"]  # the blueprint, when no @doc.tag
    assert spec["paths"]["/people/{id}"]["put"]["tags"] == ["admin"]
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and "create_person" in ids


def test_route_parameters_come_from_the_route():
    spec = built(documented_app("doc_params"))
    params = spec["paths"]["/people/{id}/files/{name}"]["get"]["parameters"]
    assert params == [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 1000},
        },
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        },
    ]
    query = spec["paths"]["/people"]["get"]["parameters"]
    assert query[0]["in"] == "query" and query[0]["required"] is False


def test_responses_are_described_inside_the_envelope():
    spec = built(documented_app("doc_envelope"))
    listing = spec["paths"]["/people"]["get"]["responses"]
    ok = listing["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["code", "data", "pagination"]
    assert ok["properties"]["code"]["enum"] == [0]
    assert ok["properties"]["data"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Users"},
    }
    assert listing["400"] == {"$ref": "#/components/responses/BadRequest"}
    assert listing["default"] == {"$ref": "#/components/responses/Error"}
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message", "error"]
    # A route with path parameters can answer 404; one without cannot.
    assert "404" in spec["paths"]["/people/{id}"]["put"]["responses"]
    assert "404" not in listing
    # A route nobody documented still gets the envelope.
    undocumented = spec["paths"]["/people/{id}/files/{name}"]["get"]["responses"]["200"]
    assert undocumented["content"]["application/json"]["schema"]["required"] == ["code", "data"]


def test_the_document_leaves_out_excluded_static_and_its_own_routes():
    spec = built(documented_app("doc_exclude"))
    assert not any(p.startswith(("/openapi", "/hidden")) for p in spec["paths"])


# -- over HTTP ------------------------------------------------------------------------------


@pytest.fixture
async def people(database_url):
    app = documented_app("doc_http")
    app.config.DATABASE_URL = database_url
    async with serve(app) as url, aiohttp.ClientSession() as session:
        yield app, url, session


async def test_the_spec_is_served_at_the_seed_path(people):
    _, url, session = people
    async with session.get(url + "/openapi/spec.json") as response:
        assert response.status == 200
        spec = await response.json()
    validate(spec)
    assert "/people" in spec["paths"]


async def test_a_bad_body_gets_400_with_one_entry_per_wrong_field_before_the_handler(people):
    app, url, session = people
    body = {"name": "x" * 17, "age": "old", "colour": "red"}
    async with session.post(url + "/people", json=body) as response:
        assert response.status == 400
        answer = await response.json()
    assert answer["code"] == 400 and answer["message"] == "Request body is invalid (3 fields)"
    assert answer["error"] == {
        "name": "must be at most 16 characters",
        "age": "must be an integer",
        "colour": "unknown field",
    }
    assert app.ctx.runs == 0  # the handler never ran

    async with session.post(url + "/people", json={"name": "a\x00b", "age": 1}) as response:
        assert (await response.json())["error"] == {"name": "must not contain NUL characters"}

    async with session.post(url + "/people", json={"name": "Ada"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == {"age": "required"}
    async with session.post(url + "/people") as response:
        assert (await response.json())["error"] == {"body": "a JSON body is required"}
    async with session.put(url + "/people/1", json={}) as response:
        assert (await response.json())["error"] == {"body": "send at least one field"}
    assert app.ctx.runs == 0


async def test_a_good_body_reaches_the_handler(people):
    app, url, session = people
    async with session.post(url + "/people", json={"name": "Ada", "age": 36}) as response:
        assert response.status == 200
        assert (await response.json())["data"] == {"id": 1, "name": "Ada", "age": 36}
    async with session.put(url + "/people/1", json={"city_id": None}) as response:
        assert response.status == 200
    assert app.ctx.runs == 2


async def test_declared_parameters_are_checked_too(people):
    _, url, session = people
    async with session.get(url + "/people", params={"page": "0"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == {"page": "must be >= 1"}
    async with session.get(url + "/people", params={"page": "two"}) as response:
        assert (await response.json())["error"] == {"page": "must be an integer, got 'two'"}
    async with session.get(url + "/people/1001/files/a.txt") as response:
        assert response.status == 400
        assert (await response.json())["error"] == {"id": "must be <= 1000"}
    async with session.get(url + "/people/7/files/a.txt") as response:
        assert response.status == 200


@pytest.mark.parametrize("service", ["users", "cities", "roles"])
async def test_each_example_service_spec_passes_the_validator(service, example_tables):
    import importlib

    create_app = importlib.import_module(f"examples.{service}.server").create_app
    app = create_app({"DATABASE_URL": example_tables})
    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/openapi/spec.json") as response:
            spec = await response.json()
    validate(spec)
    assert spec["info"]["title"] == service
    assert f"/{service}" in spec["paths"] and f"/{service}/{{id}}" in spec["paths"]
    if service == "users":
        body = spec["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["required"] == ["name", "age", "city_id", "role_id"]
        user = spec["paths"]["/users/{id}"]["get"]["responses"]["200"]
        data = user["content"]["application/json"]["schema"]["properties"]["data"]
        assert data["properties"]["city"] == {"$ref": "#/components/schemas/CityApi"}


def test_a_create_route_links_the_id_it_returns_to_the_item_routes():
    spec = built(documented_app("doc_links"))
    links = spec["paths"]["/people"]["post"]["responses"]["200"]["links"]
    assert links == {
        "update_person": {
            "operationId": "update_person",
            "parameters": {"id": "$response.body#/data/id"},
        }
    }
