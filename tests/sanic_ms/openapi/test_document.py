"""The OpenAPI document built from an app's routes, and the requests it validates over HTTP."""

from __future__ import annotations

import aiohttp
import peewee
import pytest
from openapi_spec_validator import validate
from sanic import Blueprint, Sanic
from sanic.response import text

import sanic_ms
from sanic_ms import doc, openapi
from sanic_ms.openapi import SchemaError
from sanic_ms.serve import serve


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
