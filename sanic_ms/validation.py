"""Check a request against what its route declared with ``doc.consumes``, before the handler runs.

A bad request gets 400 and the error envelope, with one entry per wrong field (the same shape the
example services use for their own checks)::

    {"code": 400, "message": "Request body is invalid (2 fields)",
     "error": {"age": "must be an integer", "name": "required"}}
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError

# RFC 3339, as the OpenAPI document promises (a timezone is required).
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    return True


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE.match(value)) and dt.date.fromisoformat(value) is not None


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or uuid.UUID(value) is not None


@cache
def _formats() -> FormatChecker:
    """The formats a request is checked for: date-time, date and uuid, nothing else.

    jsonschema is imported here, on the first validator an app builds, not when ``sanic_ms`` is
    imported: by then ``create_app`` has run ``_startup.setup()``, which spares every process that
    imports the framework the seconds of rfc3987-syntax's grammar (see ``sanic_ms._startup``).
    """
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("date", raises=ValueError)(_is_date)
    checker.checks("uuid", raises=ValueError)(_is_uuid)
    return checker


def _validator(schema: Any) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema, format_checker=_formats())


def to_json_schema(schema: Any, components: dict[str, dict[str, Any]], _depth: int = 0) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: ``$ref``s inlined, ``nullable`` as a type."""
    if _depth > 32:
        raise ValueError("schema nests too deeply (a reference cycle?)")
    if isinstance(schema, list):
        return [to_json_schema(item, components, _depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return to_json_schema(components[name], components, _depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-") or key in {"example", "readOnly", "writeOnly", "nullable"}:
            continue
        if key in {"properties", "patternProperties"}:
            out[key] = {k: to_json_schema(v, components, _depth + 1) for k, v in value.items()}
        elif key in {"items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"}:
            out[key] = to_json_schema(value, components, _depth + 1)
        else:
            out[key] = value
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


_KINDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _message(error: ValidationError) -> str:
    """A short message in the services' own words ("must be an integer", "required")."""
    # A keyword's error comes from an object schema (only ``False`` as a schema is not one).
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    kind = error.validator
    if kind == "type":
        kinds: list[str] = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return "must be " + " or ".join(_KINDS.get(k, k) for k in kinds)
    if kind == "minimum":
        return f"must be >= {schema['minimum']}"
    if kind == "maximum":
        return f"must be <= {schema['maximum']}"
    if kind == "maxLength":
        return f"must be at most {schema['maxLength']} characters"
    if kind == "minLength":
        n = schema["minLength"]
        return "must not be empty" if n == 1 else f"must be at least {n} characters"
    if kind == "enum":
        return "must be one of " + ", ".join(repr(v) for v in schema["enum"])
    if kind == "format":
        return f"must be a valid {schema['format']}"
    if kind == "pattern":
        if schema["pattern"] == r"^[^\x00]*$":
            return "must not contain NUL characters"
        return f"must match {schema['pattern']}"
    if kind == "minProperties":
        return "send at least one field"
    return error.message


def _field_of(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return path.lstrip(".")


def _entries(validator: Draft202012Validator, instance: Any) -> dict[str, str]:
    """One entry per wrong field (its dotted path): the first problem found with it."""
    found: dict[str, str] = {}
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        base = _field_of(error)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            name, message = (f"{base}.{missing}" if base else missing), "required"
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(k for k in error.instance if k not in allowed):
                name = f"{base}.{extra}" if base else extra
                found.setdefault(name, "unknown field")
            continue
        else:
            name, message = base or "body", _message(error)
        found.setdefault(name, message)
    return found


@dataclass
class Parameter:
    """One declared path/query/header/cookie parameter: name, JSON schema, whether required."""

    name: str
    location: str
    schema: dict[str, Any]
    required: bool


@dataclass
class RequestValidator:
    """What one operation accepts; ``check(request)`` raises BadRequest when it is not met."""

    body: dict[str, Any] | None = None
    body_required: bool = True
    parameters: list[Parameter] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._body = _validator(self.body) if self.body is not None else None
        self._params = [(p, _validator(p.schema)) for p in self.parameters]

    def check(self, request: Any, parsed_body: Any) -> None:
        """Raise BadRequest naming every wrong parameter and body field."""
        problems: dict[str, str] = {}
        for param, validator in self._params:
            present, value = _read(request, param)
            if not present:
                if param.required:
                    problems[param.name] = f"required (a {param.location} parameter)"
                continue
            for error in validator.iter_errors(value):
                problems[param.name] = _message(error)
                if error.validator == "type":
                    # Parameters arrive as text: show what came when it did not read as a number.
                    got = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                    problems[param.name] += f", got {got}"
                break
        params_wrong = bool(problems)
        if self._body is not None:
            if parsed_body is None:
                if self.body_required:
                    problems["body"] = "a JSON body is required"
            else:
                for name, message in _entries(self._body, parsed_body).items():
                    problems.setdefault(name, message)
        if problems:
            what = "Request is invalid" if params_wrong else "Request body is invalid"
            count = len(problems)
            raise errors.BadRequest(f"{what} ({count} field{'s' if count > 1 else ''})", problems)


def _read(request: Any, param: Parameter) -> tuple[bool, Any]:
    """Whether the parameter was sent, and its value typed as its schema says when it reads so."""
    if param.location == "path":
        value = request.match_info.get(param.name)
        if value is not None and not isinstance(value, str | int | float):
            value = str(value)  # Sanic casts uuid and ymd parameters; the schema wants text
        return value is not None, value
    if param.location == "query":
        raw = request.args.getlist(param.name) or []
    else:
        source = request.headers if param.location == "header" else request.cookies
        value = source.get(param.name)
        raw = [] if value is None else [value]
    if not raw:
        return False, None
    return True, _coerce(raw, param.schema)


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


def _coerce(raw: list[str], schema: dict[str, Any]) -> Any:
    """Query strings are text: turn them into what the schema expects, when they read as such."""
    kinds = _types(schema)
    if "array" in kinds:
        items = schema.get("items", {})
        return [_scalar(item, items) for item in raw]
    return _scalar(raw[-1], schema)


def _scalar(text: str, schema: dict[str, Any]) -> Any:
    kinds = _types(schema)
    if "null" in kinds and text in {"", "null"}:
        return None
    try:
        if "integer" in kinds:
            return int(text)
        if "number" in kinds:
            return float(text)
    except ValueError:
        return text
    if "boolean" in kinds and text.lower() in {"true", "false", "1", "0"}:
        return text.lower() in {"true", "1"}
    return text
