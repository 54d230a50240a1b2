"""Routes become the OpenAPI 3.0 document, and the request validators of what each declared.

One operation per route and method: summary, tags, parameters, request body, responses.
"""

from __future__ import annotations

import re
from typing import Any

from sanic import Sanic
from sanic_routing.route import Route

from ..validation import RequestValidator, to_json_schema
from .columns import SchemaError
from .declarations import RouteDoc, route_doc
from .envelope import ERROR_RESPONSES, ERROR_SCHEMA, PAGINATION_SCHEMA, error_response, responses
from .parameters import openapi_path, parameters
from .schemas import BODY, PATCH, Schemas

OPENAPI_VERSION = "3.0.3"
_SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def _blueprints_by_route(app: Sanic[Any, Any]) -> dict[str, str]:
    return {route.name: name for name, bp in app.blueprints.items() for route in bp.routes}


class Builder:
    """Walks an app's routes once and produces the document and the request validators."""

    def __init__(self, app: Sanic[Any, Any]) -> None:
        self.app = app
        self.schemas = Schemas()
        self.paths: dict[str, dict[str, Any]] = {}
        # (route name, method) -> what its requests must satisfy
        self.validators: dict[tuple[str, str], RequestValidator] = {}
        self._operation_ids: set[str] = set()
        self._blueprints = _blueprints_by_route(app)

    def build(self) -> dict[str, Any]:
        routes = sorted(self.app.router.routes, key=lambda r: (openapi_path(r.uri), r.name))
        for route in routes:
            self._route(route)
        self._link_created_items()
        config = self.app.config
        components = dict(self.schemas.components)
        components.update({"Error": ERROR_SCHEMA, "Pagination": PAGINATION_SCHEMA})
        tags = sorted(
            {t for item in self.paths.values() for op in item.values() for t in op.get("tags", [])}
        )
        return {
            "openapi": OPENAPI_VERSION,
            "info": {
                "title": config.get("API_TITLE") or self.app.name,
                "version": str(config.get("API_VERSION") or "1.0.0"),
                "description": config.get("API_DESCRIPTION")
                or f"The {self.app.name} service. Every answer is an envelope: "
                '`{"code": 0, "data": ...}` on success, `{"code", "message", "error"}` on error.',
            },
            "tags": [{"name": t} for t in tags],
            "paths": self.paths,
            "components": {
                "schemas": dict(sorted(components.items())),
                "responses": {k: error_response(v) for k, v in ERROR_RESPONSES.items()},
            },
        }

    def _link_created_items(self) -> None:
        """POST /things answering ``data.id`` links to /things/{id}: clients (and schemathesis'
        stateful tests) learn that the id it returns is what the item routes take."""
        for path, item in self.paths.items():
            post = item.get("post")
            ok = post and next((r for s, r in post["responses"].items() if s.startswith("2")), None)
            if not ok or not self._has_id(ok):
                continue
            pattern = re.compile(re.escape(path.rstrip("/")) + r"/\{([^}/]+)\}")
            links = {}
            for other, operations in self.paths.items():
                found = pattern.fullmatch(other)
                if found:
                    for operation in operations.values():
                        links[operation["operationId"]] = {
                            "operationId": operation["operationId"],
                            "parameters": {found.group(1): "$response.body#/data/id"},
                        }
            if links:
                ok["links"] = links

    def _has_id(self, response: dict[str, Any]) -> bool:
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        data = schema.get("properties", {}).get("data", {})
        if "$ref" in data:
            data = self.schemas.components.get(data["$ref"].rsplit("/", 1)[-1], {})
        return "id" in data.get("properties", {})

    def _route(self, route: Route) -> None:
        extra = route.extra
        if getattr(extra, "static", False) or getattr(extra, "websocket", False):
            return
        docs = route_doc(route.handler) or RouteDoc()
        # Paths under "/_" are the framework's own internals (/_tracing/stats), not the API.
        if docs.exclude or route.uri.lstrip("/").startswith("_"):
            return
        path = openapi_path(route.uri)
        methods = sorted(m for m in route.methods if m not in _SKIPPED_METHODS)
        for method in methods:
            operation, validator = self._operation(route, docs, method, len(methods) > 1)
            self.paths.setdefault(path, {})[method.lower()] = operation
            if validator is not None:
                self.validators[(route.name, method)] = validator

    def _operation_id(self, route: Route, method: str, shared: bool) -> str:
        name = getattr(route.handler, "__name__", None) or route.name.rsplit(".", 1)[-1]
        candidates = [name, route.name.split(".", 1)[-1].replace(".", "_")]
        if shared:
            candidates = [f"{c}_{method.lower()}" for c in candidates]
        for candidate in candidates:
            if candidate not in self._operation_ids:
                self._operation_ids.add(candidate)
                return candidate
        raise SchemaError(f"route {route.name}: cannot find a unique operationId")

    def _operation(
        self, route: Route, docs: RouteDoc, method: str, shared: bool
    ) -> tuple[dict[str, Any], RequestValidator | None]:
        operation: dict[str, Any] = {"operationId": self._operation_id(route, method, shared)}
        if docs.summary:
            operation["summary"] = docs.summary
        if docs.description:
            operation["description"] = docs.description
        tags = docs.tags or [t for t in [self._blueprints.get(route.name)] if t]
        if tags:
            operation["tags"] = list(tags)
        if docs.deprecated:
            operation["deprecated"] = True

        params, checked = parameters(self.schemas, route, docs)
        if params:
            operation["parameters"] = params

        # Only these methods carry a body (sanic_ms.middleware parses no other).
        body = docs.body() if method in {"POST", "PUT", "PATCH"} else None
        body_schema = None
        if body is not None:
            purpose = PATCH if body.partial else BODY
            schema = self.schemas.source(body.source, purpose)
            if body.partial and "required" in schema:
                schema = {k: v for k, v in schema.items() if k != "required"}
            operation["requestBody"] = {
                "required": body.required,
                "content": {body.content_type: {"schema": schema}},
            }
            if body.content_type == "application/json":
                body_schema = to_json_schema(schema, self.schemas.components)

        operation["responses"] = responses(self.schemas, docs)
        if any(p["in"] == "path" for p in params):
            operation["responses"]["404"] = {"$ref": "#/components/responses/NotFound"}
        if body is not None or checked:
            operation["responses"]["400"] = {"$ref": "#/components/responses/BadRequest"}
        operation["responses"]["default"] = {"$ref": "#/components/responses/Error"}
        validator = None
        if body_schema is not None or checked:
            validator = RequestValidator(
                body_schema, body.required if body is not None else False, checked
            )
        return operation, validator


def build(app: Sanic[Any, Any]) -> tuple[dict[str, Any], dict[tuple[str, str], RequestValidator]]:
    """The OpenAPI document of ``app`` and its request validators by (route name, method)."""
    builder = Builder(app)
    return builder.build(), builder.validators
