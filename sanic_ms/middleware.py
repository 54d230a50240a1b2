"""The request/response pipeline: body parsing, the envelope, CORS, and uniform error answers."""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

import orjson
from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from . import errors
from .responses import envelope, error_body, json_response

log = logging.getLogger("sanic_ms")
access_log = logging.getLogger("sanic_ms.access")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def parse_body(request: Request) -> Any:
    """The JSON body of a POST/PUT/PATCH, or None when there is none. Invalid JSON -> 400."""
    # BEGIN SOLUTION task 2: parse request.body as JSON (None when empty, BadRequest when invalid)
    body = request.body
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(
            "Request body is not valid JSON",
            {
                "reason": str(exc),
                "hint": "send a JSON document with Content-Type: application/json",
            },
        ) from None
    # END SOLUTION


def wrap_handler(handler):
    """Wrap one route handler: parse the body, then turn its result into the envelope."""
    if getattr(handler, "__sanic_ms_wrapped__", False) or getattr(handler, "is_stream", False):
        return handler

    @functools.wraps(handler)
    async def handle(request: Request, *args, **kwargs) -> BaseHTTPResponse:
        if request.method in BODY_METHODS:
            request.ctx.data = parse_body(request)
        response = envelope(await handler(request, *args, **kwargs))
        if request.app.config.CORS_ORIGINS:
            add_cors(request, response)
        return response

    handle.__sanic_ms_wrapped__ = True
    return handle


def wrap_routes(app: Sanic) -> None:
    """Wrap every route's handler (run at startup, once all blueprints are registered)."""
    for route in app.router.routes:
        route.handler = wrap_handler(route.handler)


def cors_headers(app: Sanic, request: Request) -> dict[str, str]:
    allowed = app.config.CORS_ORIGINS
    if not allowed or "origin" not in request.headers:
        return {}  # CORS is for browsers, which always send Origin on cross-origin requests
    # BEGIN SOLUTION task 4: the allow-origin value: any (*), the listed origin, or no headers
    origin = request.headers.get("origin")
    if allowed.strip() == "*":
        value = "*"
    elif origin and origin in {o.strip() for o in allowed.split(",")}:
        value = origin
    else:
        return {}
    # END SOLUTION
    return {
        "access-control-allow-origin": value,
        "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "access-control-allow-headers": request.headers.get(
            "access-control-request-headers", "content-type, authorization"
        ),
        "access-control-max-age": "600",
        "vary": "Origin",
    }


def add_cors(request: Request, response: BaseHTTPResponse) -> None:
    if headers := cors_headers(request.app, request):
        response.headers.update(headers)


class EnvelopeErrorHandler(ErrorHandler):
    """Answer every error with the error envelope and its real HTTP status.

    Our own errors carry their code, message and detail. Sanic's (unknown route 404, wrong method
    405, body too large 413, ...) keep their status and message. Anything unexpected is a 500 with a
    generic message: the traceback goes to the log under an error id the client also gets.
    """

    def default(self, request: Request, exception: BaseException) -> HTTPResponse:
        if (
            request is not None
            and request.method == "OPTIONS"
            and getattr(exception, "status_code", None) == 405
            and request.app.config.CORS_ORIGINS
        ):
            return HTTPResponse(status=204, headers=cors_headers(request.app, request))
        # BEGIN SOLUTION task 3: the status and error envelope for our errors, Sanic's, and others
        if isinstance(exception, errors.ServiceError):
            status, body = exception.status_code, exception.to_dict()
        elif isinstance(exception, SanicException):
            status = exception.status_code
            body = error_body(status, _sanic_message(exception, status), None)
        else:
            error_id = uuid.uuid4().hex
            log.error(
                "unhandled %s while serving %s %s (error id %s)",
                type(exception).__name__,
                getattr(request, "method", "?"),
                getattr(request, "path", "?"),
                error_id,
                exc_info=exception,
            )
            status = 500
            body = error_body(500, errors.ServerError.message, {"id": error_id})
        # END SOLUTION
        headers = cors_headers(request.app, request) if request is not None else {}
        headers.update(getattr(exception, "headers", None) or {})
        if status >= 500 and isinstance(exception, SanicException):
            log.warning("%s %s -> %s: %s", request.method, request.path, status, body["message"])
        return json_response(body, status=status, headers=headers)


def _sanic_message(exception: SanicException, status: int) -> str:
    text = str(exception) or ""
    if status == 404:
        return f"Not found: {text.removeprefix('Requested URL ').removesuffix(' not found')}"
    if status == 405:
        return text or "Method not allowed"
    if status == 413:
        return "Request body too large (limit: REQUEST_MAX_SIZE)"
    return text or errors.BY_STATUS.get(status, errors.ServerError).message


def setup(app: Sanic) -> None:
    """Install the pipeline on an app."""
    app.error_handler = EnvelopeErrorHandler()

    @app.before_server_start(priority=1000)
    async def _wrap(app: Sanic) -> None:
        wrap_routes(app)
