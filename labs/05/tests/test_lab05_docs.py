"""Lab 05: doc decorators (labs/05/doc.py), peewee columns as JSON schemas (labs/05/columns.py)
and the envelope in the OpenAPI document (labs/05/envelope.py)."""

from __future__ import annotations

import datetime as dt
import enum

import peewee
import pytest
from playhouse import fields as pw_fields

from sanic_ms import create_app
from sanic_ms import doc as reference_doc
from sanic_ms.openapi import model_schema


class Slug(peewee.CharField):
    """A custom field: documented like its nearest known ancestor, CharField."""


class Users(peewee.Model):
    name = peewee.CharField(max_length=128, verbose_name="user name")
    age = peewee.IntegerField(null=True)
    born = peewee.DateField()
    active = peewee.BooleanField(default=True)
    slug = Slug(max_length=40)

    class Meta:
        table_name = "users"


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
def test_summary_description_and_tags_are_recorded(student):
    doc = student.load("doc.py")

    async def get_user(request, id):
        return {}

    decorated = doc.summary("Get a user")(get_user)
    decorated = doc.description("One user by id, with city and role.")(decorated)
    decorated = doc.tag("users")(doc.tag("users", "people")(decorated))
    assert decorated is get_user, "a doc decorator returns the handler itself, never a wrapper"
    docs = doc.route_doc(get_user)
    assert docs is not None, "after @doc.summary the handler should carry a RouteDoc"
    got = (docs.summary, docs.description, docs.tags)
    assert got == ("Get a user", "One user by id, with city and role.", ["users", "people"]), (
        f"(summary, description, tags) recorded: {got}; each tag should appear once"
    )


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
def test_consumes_and_produces_are_recorded(student):
    doc = student.load("doc.py")

    @doc.consumes(Users)
    @doc.consumes({"page": int}, location="query")
    @doc.produces({"id": int}, status=201, description="created")
    @doc.produces(Users, status=200, pagination=True)
    async def create_user(request):
        return {}

    docs = doc.route_doc(create_user)
    assert docs is not None and docs.body() is not None and docs.body().source is Users, (
        "@doc.consumes(Users) should record Users as the request body"
    )
    locations = sorted(c.location for c in docs.consumes)
    assert locations == ["body", "query"], (
        "@doc.consumes(Users) and @doc.consumes({...}, location='query') declare a body and "
        f"query parameters (a query is not a second body); recorded locations: {locations}"
    )
    statuses = sorted((p.status, p.description) for p in docs.produces)
    assert statuses == [(200, None), (201, "created")], (
        f"two responses, 200 and 201 'created', should be recorded; got {statuses}"
    )
    paged = {p.status: p.pagination for p in docs.produces}
    assert paged == {200: True, 201: False}, (
        "@doc.produces(..., pagination=True) must keep the flag (the spec adds pagination to "
        f"that response's envelope); recorded pagination by status: {paged}"
    )


@pytest.mark.task(2)
def test_a_second_declaration_is_refused(student):
    doc = student.load("doc.py")
    with pytest.raises(ValueError):

        @doc.produces(Users, status=200)
        @doc.produces({"id": int}, status=200)
        async def twice(request):
            return {}

    with pytest.raises(ValueError):

        @doc.consumes(Users)
        @doc.consumes({"name": str})
        async def two_bodies(request):
            return {}


# ---------------------------------------------------------------------------------------- task 3


@pytest.mark.task(3)
def test_peewee_columns_become_json_schemas(student):
    student.plug("columns.py")
    schema = model_schema(Users)
    props = schema["properties"]
    assert props["name"] == {"type": "string", "maxLength": 128, "description": "user name"}, (
        "CharField(max_length=128, verbose_name='user name') should be "
        f"{{'type': 'string', 'maxLength': 128, 'description': 'user name'}}; got {props['name']}"
    )
    assert props["born"] == {"type": "string", "format": "date"}, (
        f"a DateField should be {{'type': 'string', 'format': 'date'}}; got {props['born']}"
    )
    assert props["slug"] == {"type": "string", "maxLength": 40}, (
        f"a CharField subclass is documented as a CharField; got {props['slug']}"
    )
    assert props["age"].get("nullable") is True and props["age"]["type"] == "integer", (
        f"IntegerField(null=True) should be an integer with nullable: true; got {props['age']}"
    )
    assert props["active"] == {"type": "boolean", "default": True}, (
        f"BooleanField(default=True) should carry its default; got {props['active']}"
    )


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Things(peewee.Model):
    id = peewee.BigAutoField()
    count = peewee.BigIntegerField()
    small = peewee.SmallIntegerField()
    enabled = peewee.BooleanField(default=False)
    stock = peewee.IntegerField(default=0)
    created = peewee.DateTimeField(default=dt.datetime.now)
    color = pw_fields.EnumField(Color, null=True)

    class Meta:
        table_name = "things"


@pytest.mark.task(3)
def test_a_subclass_uses_its_nearest_listed_ancestor(student):
    student.plug("columns.py")
    props = model_schema(Things)["properties"]
    for name, expected in (("id", "int64"), ("count", "int64"), ("small", "int32")):
        got = props[name].get("format")
        assert got == expected, (
            f"Things.{name} ({type(Things._meta.fields[name]).__name__}) should be documented "
            f"with format {expected}: walk type(field).__mro__ and take the first class listed "
            "in FIELD_SCHEMAS (the nearest ancestor), not the first listed class the field is "
            f"an instance of; got {props[name]}"
        )
    assert props["id"].get("minimum") == 1, (
        f"an auto-incremented id starts at 1 (BigAutoField's own entry); got {props['id']}"
    )


@pytest.mark.task(3)
def test_defaults_falsy_callable_and_a_nullable_enum(student):
    student.plug("columns.py")
    props = model_schema(Things)["properties"]
    assert props["enabled"].get("default") is False and props["stock"].get("default") == 0, (
        "a default of False or 0 is a default too (test `is not None`, not truthiness); got "
        f"enabled {props['enabled']}, stock {props['stock']}"
    )
    assert "default" not in props["created"], (
        "a callable default (datetime.now) has no constant value to document: leave it out "
        f"(_json_default gives None); got {props['created']}"
    )
    color = props["color"]
    assert color.get("nullable") is True and color.get("enum") == ["red", "blue", None], (
        "a nullable enum column must list None among its values, or a validator refuses null: "
        f'expected nullable: true and enum ["red", "blue", null]; got {color}'
    )


@pytest.mark.task(3)
def test_an_unknown_field_type_is_a_clear_error(student):
    columns = student.plug("columns.py")

    class Strange(peewee.Field):
        field_type = "strange"

    class Odd(peewee.Model):
        thing = Strange()

    with pytest.raises(columns.SchemaError, match="thing"):
        model_schema(Odd)


# ---------------------------------------------------------------------------------------- task 4


@pytest.mark.task(4)
async def test_the_spec_describes_responses_inside_the_envelope(student, database_url, serve):
    student.plug("envelope.py")
    app = create_app("lab05", {"DATABASE_URL": database_url})

    @app.get("/people/<id:int>")
    @reference_doc.produces({"id": int, "name": str})
    async def person(request, id):
        return {"id": id, "name": "ada"}

    @app.get("/people")
    @reference_doc.produces([{"id": int}], pagination=True)
    async def people(request):
        return [], {"page": 1, "size": 10, "total": 0}

    async with serve(app) as served:
        reply = await served.get("/openapi/spec.json")
    assert reply.status == 200, f"GET /openapi/spec.json should answer the document; got {reply}"
    one = reply.body["paths"]["/people/{id}"]["get"]["responses"]["200"]
    schema = one["content"]["application/json"]["schema"]
    assert schema.get("type") == "object" and set(schema.get("required", [])) == {"code", "data"}, (
        f"a response schema is the envelope: an object requiring code and data; got {schema}"
    )
    assert schema["properties"]["code"].get("enum") == [0], (
        f"code is 0 on success: enum [0]; got {schema['properties']['code']}"
    )
    assert schema["properties"]["data"].get("type") == "object", (
        f"data holds what @doc.produces said (an object here); got {schema['properties']['data']}"
    )
    paged = reply.body["paths"]["/people"]["get"]["responses"]["200"]
    paged = paged["content"]["application/json"]["schema"]
    assert "pagination" in paged.get("required", []) and paged["properties"]["pagination"] == {
        "$ref": "#/components/schemas/Pagination"
    }, f"with pagination=True the envelope requires pagination; got {paged}"
