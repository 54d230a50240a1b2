"""Schema sources as OpenAPI schemas: a model per purpose, references, dicts, lists, types."""

from __future__ import annotations

import datetime as dt

import peewee
import pytest

from sanic_ms import doc
from sanic_ms.openapi import BODY, PATCH, RESPONSE, SchemaError, Schemas, model_schema


class Cities(peewee.Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=64)


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
