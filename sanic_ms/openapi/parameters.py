"""An operation's path, query, header and cookie parameters: documented, and to be checked."""

from __future__ import annotations

import inspect
import re
from typing import Any

import peewee
from sanic_routing.route import Route

from ..validation import Parameter, to_json_schema
from . import fields
from .columns import SchemaError
from .declarations import Consumes, RouteDoc
from .schemas import BODY, PATCH, Schemas, public_attributes

# Sanic path parameter types -> schemas (other labels fall back to the route's own regex).
_PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "uuid": {"type": "string", "format": "uuid"},
    "ymd": {"type": "string", "format": "date"},
    "str": {"type": "string", "minLength": 1},
    "path": {"type": "string"},
    "strorempty": {"type": "string"},
}
_URI_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")


def openapi_path(uri: str) -> str:
    """``/users/<id:int>`` -> ``/users/{id}``."""
    path = _URI_PARAM.sub(lambda m: "{" + m.group(1) + "}", uri)
    return path if path.startswith("/") else "/" + path


def parameters(
    schemas: Schemas, route: Route, docs: RouteDoc
) -> tuple[list[dict[str, Any]], list[Parameter]]:
    """The operation's parameters as the document lists them (the route's path parameters
    first), and the ones the request validator checks (those ``doc.consumes`` declared)."""
    overrides: dict[str, dict[str, Any]] = {}
    listed: list[dict[str, Any]] = []
    checked: list[Parameter] = []
    for consumed in docs.consumes:
        if consumed.location == "body":
            continue
        obj = _object_schema(schemas, consumed)
        for name, declared in obj.get("properties", {}).items():
            required = name in obj.get("required", []) or consumed.location == "path"
            schema = {k: v for k, v in declared.items() if k not in {"readOnly", "x-references"}}
            description = schema.pop("description", None)
            json_schema = to_json_schema(schema, schemas.components)
            checked.append(Parameter(name, consumed.location, json_schema, required))
            if consumed.location == "path":
                overrides[name] = schema
                continue
            parameter = {
                "name": name,
                "in": consumed.location,
                "required": required,
                "schema": schema,
            }
            if description:
                parameter["description"] = description
            listed.append(parameter)
    path_params = _path_params(route, overrides)
    unknown = set(overrides) - {p["name"] for p in path_params}
    if unknown:
        raise SchemaError(
            f"route {route.name}: doc.consumes(location='path') names {sorted(unknown)}, "
            f"which are not parameters of {route.uri}"
        )
    return path_params + listed, checked


def _path_params(route: Route, overrides: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    by_name = {p.name: p for p in route.params.values()}
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": overrides.get(name) or _param_schema(by_name[name]),
        }
        for name in _URI_PARAM.findall(route.uri)
        if name in by_name
    ]


def _param_schema(param: Any) -> dict[str, Any]:
    known = _PARAM_SCHEMAS.get(param.label)
    if known is not None:
        return dict(known)
    pattern = getattr(param, "pattern", None)
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern.pattern if hasattr(pattern, "pattern") else str(pattern)
    return schema


def _object_schema(schemas: Schemas, consumed: Consumes) -> dict[str, Any]:
    """Parameters come from an object's properties; a model or class is used inline."""
    source = consumed.source
    purpose = PATCH if consumed.partial else BODY
    if inspect.isclass(source) and issubclass(source, peewee.Model):
        schema = schemas.model(source, purpose)
    elif inspect.isclass(source) and not issubclass(source, fields.Field):
        schema = schemas.object_schema(public_attributes(source))
    else:
        schema = schemas.source(source)
    if schema.get("type") != "object":
        raise SchemaError(
            f"doc.consumes(location={consumed.location!r}) needs an object (a dict, model "
            f"or class of named parameters), not {source!r}"
        )
    if consumed.partial:
        schema = {k: v for k, v in schema.items() if k != "required"}
    return schema
