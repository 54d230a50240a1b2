"""The OpenAPI 3.0 document of a service, built at startup from its routes, ``doc`` decorators and
peewee models; served at ``/openapi/spec.json`` with Swagger UI at ``/openapi/``.

Schemas describe what a client sees on the wire: a row read with asyncpg and encoded by
``sanic_ms.responses.dumps`` (``Decimal`` -> string, ``bytes`` -> hex, ``timedelta`` -> seconds).
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
from playhouse import fields as pw_fields
from playhouse import postgres_ext

from . import doc

OPENAPI_VERSION = "3.0.3"
SPEC_PATH = "/openapi/spec.json"
UI_PATH = "/openapi/"

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

# Which fields a model schema is for: what a response holds, a full request body, a partial one.
RESPONSE, BODY, PATCH = "response", "body", "patch"
_SUFFIX = {RESPONSE: "", BODY: "Body", PATCH: "Patch"}


class SchemaError(TypeError):
    """A model field, route or schema source the document cannot describe."""


def _integer(bounds: tuple[int, int], fmt: str | None) -> dict:
    out: dict[str, Any] = {"type": "integer", "minimum": bounds[0], "maximum": bounds[1]}
    if fmt:
        out["format"] = fmt
    return out


def _decimal(field: peewee.DecimalField) -> dict:
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


def _array(field: postgres_ext.ArrayField, builder: Schemas) -> dict:
    inner = builder.field(field._ArrayField__field, bare=True)
    schema = inner
    for _ in range(field.dimensions or 1):
        schema = {"type": "array", "items": schema}
    return schema


def _enum(field: Any) -> dict:
    values = [member.value for member in field.enum_class]
    kind = "integer" if isinstance(field, pw_fields.IntEnumField) else "string"
    return {"type": kind, "enum": values}


# One entry per peewee field class; a subclass uses its nearest listed ancestor. A field whose
# ancestry reaches none of these (a custom ``Field`` subclass) is a SchemaError at startup.
FIELD_SCHEMAS: dict[type, Callable[[Any, Schemas], dict]] = {
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


def _field_builder(field: peewee.Field) -> Callable[[Any, Schemas], dict]:
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


def _is_auto_key(field: peewee.Field) -> bool:
    return bool(field.primary_key) and isinstance(field, peewee.AutoField)


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


class Schemas:
    """Turns schema sources into OpenAPI schemas, collecting named ones in ``components``."""

    def __init__(self) -> None:
        self.components: dict[str, dict] = {}
        self._owners: dict[str, Any] = {}

    # -- named schemas ------------------------------------------------------------------------

    def _register(self, name: str, owner: Any, build: Callable[[], dict]) -> dict:
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

    def model_ref(self, model: type[peewee.Model], purpose: str = RESPONSE) -> dict:
        name = model.__name__ + _SUFFIX[purpose]
        return self._register(name, (model, purpose), lambda: self.model(model, purpose))

    # -- peewee -------------------------------------------------------------------------------

    def model(self, model: type[peewee.Model], purpose: str = RESPONSE) -> dict:
        """The object schema of a model's columns (keys are column names, as asyncpg returns)."""
        properties: dict[str, dict] = {}
        required: list[str] = []
        for field in model._meta.sorted_fields:
            auto = _is_auto_key(field)
            if auto and purpose != RESPONSE:
                continue  # the database assigns it; a client cannot send it
            schema = self.field(field)
            if purpose != RESPONSE and isinstance(field, peewee._StringField):
                schema.setdefault("pattern", TEXT)
            if auto:
                schema["readOnly"] = True
            properties[field.column_name] = schema
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

    def field(self, field: peewee.Field, *, bare: bool = False) -> dict:
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
            schema = _field_builder(field)(field, self)
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

    def _help_text(self, field: peewee.Field, schema: dict) -> list[str]:
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

    def api_ref(self, cls: type) -> dict:
        return self._register(cls.__name__, cls, lambda: self._object(_public_attributes(cls)))

    def source(self, source: Any, purpose: str = RESPONSE) -> dict:
        """The schema of anything ``doc.consumes``/``doc.produces`` accept (see sanic_ms.doc)."""
        if source is None:
            return {"description": "always null", "nullable": True, "enum": [None]}
        if inspect.isclass(source):
            if issubclass(source, peewee.Model):
                return self.model_ref(source, purpose)
            if issubclass(source, doc.Field):
                return self._helper(source(), purpose)
            if source in _PYTHON_TYPES:
                return dict(_PYTHON_TYPES[source])
            if issubclass(source, enum.Enum):
                return {"enum": [m.value for m in source]}
            if source.__module__ == "builtins":
                raise SchemaError(f"no JSON schema for the Python type {source.__name__}")
            return self.api_ref(source)
        if isinstance(source, doc.Field):
            return self._helper(source, purpose)
        if isinstance(source, dict):
            return self._object(source)
        if isinstance(source, list | tuple):
            if len(source) != 1:
                raise SchemaError(f"a list source holds exactly one item schema, not {source!r}")
            return {"type": "array", "items": self.source(source[0], purpose)}
        if isinstance(source, peewee.Field):
            return self.field(source)
        raise SchemaError(f"cannot describe {source!r} ({type(source).__name__}) as a schema")

    def _object(self, members: dict) -> dict:
        properties, required = {}, []
        for name, member in members.items():
            if not isinstance(name, str):
                raise SchemaError(f"object keys must be strings, not {name!r}")
            properties[name] = self.source(member)
            if not (isinstance(member, doc.Field) and not member.required):
                required.append(name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def _helper(self, helper: doc.Field, purpose: str = RESPONSE) -> dict:
        schema = helper.schema()
        if isinstance(helper, doc.Model):
            schema = self.model(helper.model, purpose)
            for name in helper.exclude:
                if schema["properties"].pop(name, None) is None:
                    raise SchemaError(f"doc.Model: {helper.model.__name__} has no column {name!r}")
            required = [n for n in schema.get("required", []) if n not in helper.exclude]
            extra = self._object(helper.extra_fields)
            schema["properties"].update(extra["properties"])
            required += extra.get("required", [])
            schema.pop("required", None)
            if required:
                schema["required"] = required
        elif isinstance(helper, doc.List):
            schema["items"] = self.source(helper.items) if helper.items is not None else {}
        elif isinstance(helper, doc.Dictionary):
            schema.update(self._object(helper.fields))
        if helper.description:
            schema["description"] = helper.description
        if helper.nullable:
            schema["nullable"] = True
        schema.update(helper.extra)
        return schema


_PYTHON_TYPES: dict[type, dict] = {
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


def _public_attributes(cls: type) -> dict:
    return {
        name: value
        for name, value in vars(cls).items()
        if not name.startswith("_") and not inspect.isfunction(value)
    }


def model_schema(model: type[peewee.Model], purpose: str = RESPONSE) -> dict:
    """One model's schema on its own (tests, notebooks); references go to ``x-references``."""
    return Schemas().model(model, purpose)


# -- the document -------------------------------------------------------------------------------

# Sanic path parameter types -> schemas (other labels fall back to the route's own regex).
_PARAM_SCHEMAS: dict[str, dict] = {
    "int": {"type": "integer", "format": "int64"},
    "float": {"type": "number", "format": "double"},
    "uuid": {"type": "string", "format": "uuid"},
    "ymd": {"type": "string", "format": "date"},
    "str": {"type": "string", "minLength": 1},
    "path": {"type": "string"},
    "strorempty": {"type": "string"},
}
_URI_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")
_SKIPPED_METHODS = {"HEAD", "OPTIONS"}

ERROR_SCHEMA = {
    "type": "object",
    "description": "The error envelope every service answers with.",
    "required": ["code", "message", "error"],
    "properties": {
        "code": {"type": "integer", "description": "Non-zero: the HTTP status or a finer code."},
        "message": {"type": "string", "description": "What went wrong, for a person."},
        "error": {
            "nullable": True,
            "description": "Details: for a bad request, one entry per wrong field "
            "(location, field, message).",
        },
    },
}
PAGINATION_SCHEMA = {
    "type": "object",
    "required": ["page", "size", "total"],
    "properties": {
        "page": {"type": "integer", "description": "This page, from 1."},
        "size": {"type": "integer", "description": "Rows per page."},
        "total": {"type": "integer", "description": "Rows in all pages."},
        "pages": {"type": "integer", "description": "Number of pages (when the service says)."},
    },
}
_ERROR_RESPONSES = {
    "BadRequest": "The request is malformed or does not match its schema (one entry per field).",
    "NotFound": "Nothing exists at this path.",
    "Error": "Any other error, in the error envelope.",
}


def _error_response(description: str) -> dict:
    ref = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def openapi_path(uri: str) -> str:
    """``/users/<id:int>`` -> ``/users/{id}``."""
    path = _URI_PARAM.sub(lambda m: "{" + m.group(1) + "}", uri)
    return path if path.startswith("/") else "/" + path


def _param_schema(param: Any) -> dict:
    known = _PARAM_SCHEMAS.get(param.label)
    if known is not None:
        return dict(known)
    pattern = getattr(param, "pattern", None)
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern.pattern if hasattr(pattern, "pattern") else str(pattern)
    return schema


def _blueprints_by_route(app: Any) -> dict[str, str]:
    return {route.name: name for name, bp in app.blueprints.items() for route in bp.routes}


def _envelope(data: dict, pagination: bool) -> dict:
    # BEGIN SOLUTION task 4: the envelope object schema: code 0, data, and pagination if asked
    properties = {"code": {"type": "integer", "enum": [0], "description": "0: success."}}
    properties["data"] = data
    required = ["code", "data"]
    if pagination:
        properties["pagination"] = {"$ref": "#/components/schemas/Pagination"}
        required.append("pagination")
    return {"type": "object", "required": required, "properties": properties}
    # END SOLUTION


class Builder:
    """Walks an app's routes once and produces the document and the request validators."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.schemas = Schemas()
        self.paths: dict[str, dict] = {}
        self.validators: dict[tuple[str, str], Any] = {}  # (route name, method) -> validator
        self._operation_ids: set[str] = set()
        self._blueprints = _blueprints_by_route(app)

    def build(self) -> dict:
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
                "responses": {k: _error_response(v) for k, v in _ERROR_RESPONSES.items()},
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

    def _has_id(self, response: dict) -> bool:
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        data = schema.get("properties", {}).get("data", {})
        if "$ref" in data:
            data = self.schemas.components.get(data["$ref"].rsplit("/", 1)[-1], {})
        return "id" in data.get("properties", {})

    def _route(self, route: Any) -> None:
        extra = route.extra
        if getattr(extra, "static", False) or getattr(extra, "websocket", False):
            return
        docs = doc.route_doc(route.handler) or doc.RouteDoc()
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

    def _operation_id(self, route: Any, method: str, shared: bool) -> str:
        name = getattr(route.handler, "__name__", None) or route.name.rsplit(".", 1)[-1]
        candidates = [name, route.name.split(".", 1)[-1].replace(".", "_")]
        if shared:
            candidates = [f"{c}_{method.lower()}" for c in candidates]
        for candidate in candidates:
            if candidate not in self._operation_ids:
                self._operation_ids.add(candidate)
                return candidate
        raise SchemaError(f"route {route.name}: cannot find a unique operationId")

    def _operation(self, route: Any, docs: doc.RouteDoc, method: str, shared: bool):
        from .validation import Parameter, RequestValidator, to_json_schema

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

        overrides: dict[str, dict] = {}
        parameters: list[dict] = []
        checked: list[Parameter] = []
        for consumed in docs.consumes:
            if consumed.location == "body":
                continue
            obj = self._object_schema(consumed)
            for name, schema in obj.get("properties", {}).items():
                required = name in obj.get("required", []) or consumed.location == "path"
                schema = {k: v for k, v in schema.items() if k not in {"readOnly", "x-references"}}
                description = schema.pop("description", None)
                json_schema = to_json_schema(schema, self.schemas.components)
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
                parameters.append(parameter)
        path_params = self._path_params(route, overrides)
        unknown = set(overrides) - {p["name"] for p in path_params}
        if unknown:
            raise SchemaError(
                f"route {route.name}: doc.consumes(location='path') names {sorted(unknown)}, "
                f"which are not parameters of {route.uri}"
            )
        if path_params or parameters:
            operation["parameters"] = path_params + parameters

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

        operation["responses"] = self._responses(docs, method)
        if path_params:
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

    def _path_params(self, route: Any, overrides: dict[str, dict]) -> list[dict]:
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

    def _object_schema(self, consumed: doc.Consumes) -> dict:
        """Parameters come from an object's properties; a model or class is used inline."""
        source = consumed.source
        purpose = PATCH if consumed.partial else BODY
        if inspect.isclass(source) and issubclass(source, peewee.Model):
            schema = self.schemas.model(source, purpose)
        elif inspect.isclass(source) and not issubclass(source, doc.Field):
            schema = self.schemas._object(_public_attributes(source))
        else:
            schema = self.schemas.source(source)
        if schema.get("type") != "object":
            raise SchemaError(
                f"doc.consumes(location={consumed.location!r}) needs an object (a dict, model "
                f"or class of named parameters), not {source!r}"
            )
        if consumed.partial:
            schema = {k: v for k, v in schema.items() if k != "required"}
        return schema

    def _responses(self, docs: doc.RouteDoc, method: str) -> dict:
        responses: dict[str, dict] = {}
        for produced in sorted(docs.produces, key=lambda p: p.status):
            if produced.status >= 400 and produced.envelope:
                responses[str(produced.status)] = _error_response(
                    produced.description or "See the error envelope."
                )
                continue
            data = self.schemas.source(produced.source)
            if produced.envelope:
                schema = _envelope(data, produced.pagination)
            else:
                schema = data
            responses[str(produced.status)] = {
                "description": produced.description or "OK",
                "content": {produced.content_type: {"schema": schema}},
            }
        if not any(200 <= p.status < 300 for p in docs.produces):
            responses["200"] = {
                "description": "OK (the data is not described: add @doc.produces)",
                "content": {"application/json": {"schema": _envelope({}, False)}},
            }
        return responses


def build(app: Any) -> tuple[dict, dict]:
    """The OpenAPI document of ``app`` and its request validators by (route name, method)."""
    builder = Builder(app)
    return builder.build(), builder.validators


# -- serving ------------------------------------------------------------------------------------

# The Swagger UI files we serve, from the swagger-ui-bundle wheel (no CDN: docs work offline).
UI_ASSETS = (
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
)

_UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} · API docs</title>
  <link rel="stylesheet" href="swagger-ui.css">
  <link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script src="swagger-ui-standalone-preset.js"></script>
  <script>
    // validatorUrl null: Swagger UI would otherwise send the spec to validator.swagger.io.
    window.ui = SwaggerUIBundle({{
      url: "spec.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    }});
  </script>
</body>
</html>
"""


def ui_assets_dir():
    """Where the swagger-ui-bundle wheel keeps Swagger UI's files."""
    from swagger_ui_bundle import swagger_ui_path

    return swagger_ui_path


def setup(app: Any) -> None:
    """Serve the document and Swagger UI, and validate requests against their declarations.

    The document is built in ``before_server_start``, once every blueprint is registered; a model
    or source it cannot describe stops the server there with a SchemaError.
    """
    import html

    from sanic import response

    app.ctx.openapi = None
    app.ctx.openapi_validators = {}

    @doc.exclude
    async def openapi_spec(request):
        return response.json(request.app.ctx.openapi)

    @doc.exclude
    async def openapi_ui(request):
        title = html.escape(request.app.ctx.openapi["info"]["title"])
        return response.html(_UI_PAGE.format(title=title))

    @doc.exclude
    async def openapi_ui_redirect(request):
        # Swagger UI's page loads its files relative to /openapi/, so the slash matters.
        return response.redirect(UI_PATH)

    app.add_route(openapi_spec, SPEC_PATH, methods=["GET"], name="openapi_spec")
    app.add_route(openapi_ui, UI_PATH, methods=["GET"], name="openapi_ui", strict_slashes=True)
    app.add_route(
        openapi_ui_redirect,
        UI_PATH.rstrip("/"),
        methods=["GET"],
        name="openapi_ui_redirect",
        strict_slashes=True,
    )
    assets = ui_assets_dir()
    for asset in UI_ASSETS:
        app.static(UI_PATH + asset, str(assets / asset), name="openapi_" + asset.replace(".", "_"))

    @app.before_server_start
    async def _build_openapi(app):
        # The validators run in sanic_ms.middleware's handler wrapper, on the body it parsed once.
        app.ctx.openapi, app.ctx.openapi_validators = build(app)
