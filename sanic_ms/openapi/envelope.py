"""Response schemas: every answer a route documents is inside the envelope.

``{"code": 0, "data": ...}`` (plus ``pagination`` for a page of a list) on success,
``{"code", "message", "error"}`` on error.
"""

from __future__ import annotations

from typing import Any

from .declarations import RouteDoc
from .schemas import Schemas

ERROR_SCHEMA: dict[str, Any] = {
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
PAGINATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["page", "size", "total"],
    "properties": {
        "page": {"type": "integer", "description": "This page, from 1."},
        "size": {"type": "integer", "description": "Rows per page."},
        "total": {"type": "integer", "description": "Rows in all pages."},
        "pages": {"type": "integer", "description": "Number of pages (when the service says)."},
    },
}
ERROR_RESPONSES = {
    "BadRequest": "The request is malformed or does not match its schema (one entry per field).",
    "NotFound": "Nothing exists at this path.",
    "Error": "Any other error, in the error envelope.",
}


def error_response(description: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _envelope(data: dict[str, Any], pagination: bool) -> dict[str, Any]:
    """The schema of a success answer holding ``data`` (and a page's ``pagination``)."""
    # BEGIN SOLUTION task 4: the envelope object schema: code 0, data, and pagination if asked
    properties: dict[str, Any] = {
        "code": {"type": "integer", "enum": [0], "description": "0: success."}
    }
    properties["data"] = data
    required = ["code", "data"]
    if pagination:
        properties["pagination"] = {"$ref": "#/components/schemas/Pagination"}
        required.append("pagination")
    return {"type": "object", "required": required, "properties": properties}
    # END SOLUTION


def responses(schemas: Schemas, docs: RouteDoc) -> dict[str, dict[str, Any]]:
    """The responses of one operation, from its ``@doc.produces`` declarations."""
    out: dict[str, dict[str, Any]] = {}
    for produced in sorted(docs.produces, key=lambda p: p.status):
        if produced.status >= 400 and produced.envelope:
            out[str(produced.status)] = error_response(
                produced.description or "See the error envelope."
            )
            continue
        data = schemas.source(produced.source)
        if produced.envelope:
            schema = _envelope(data, produced.pagination)
        else:
            schema = data
        out[str(produced.status)] = {
            "description": produced.description or "OK",
            "content": {produced.content_type: {"schema": schema}},
        }
    if not any(200 <= p.status < 300 for p in docs.produces):
        out["200"] = {
            "description": "OK (the data is not described: add @doc.produces)",
            "content": {"application/json": {"schema": _envelope({}, False)}},
        }
    return out
