"""The response envelope: handlers return plain data, clients get ``{"code": 0, "data": ...}``."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import orjson
from sanic.response import BaseHTTPResponse, HTTPResponse

JSON = "application/json"


def _default(value: Any) -> Any:
    # orjson handles datetime, date, UUID natively; asyncpg also returns these.
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(
        value, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC
    )


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    return HTTPResponse(dumps(body), status=status, headers=headers, content_type=JSON)


def envelope(result: Any) -> BaseHTTPResponse:
    """Turn what a handler returned into the response the client gets.

    - a Sanic response passes through untouched;
    - a 2-tuple ``(rows, pagination)`` becomes ``{"code": 0, "data": rows, "pagination": {...}}``;
    - anything else becomes ``{"code": 0, "data": result}``.
    """
    # BEGIN SOLUTION task 1: pass responses through, wrap (rows, pagination) and plain data
    if isinstance(result, BaseHTTPResponse):
        return result
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        return json_response({"code": 0, "data": result[0], "pagination": result[1]})
    return json_response({"code": 0, "data": result})
    # END SOLUTION


def error_body(code: int, message: str, error: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "error": error}


def pagination(page: int, size: int, total: int) -> dict[str, int]:
    """The ``pagination`` object of a paginated response."""
    return {"page": page, "size": size, "total": total, "pages": -(-total // size) if size else 0}


__all__ = ["dumps", "envelope", "error_body", "json_response", "pagination"]
