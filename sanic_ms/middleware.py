"""The request/response pipeline: body parsing, the envelope, CORS, and uniform error answers."""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sanic import DefaultSanic
from sanic.exceptions import MethodNotAllowed, PayloadTooLarge, RequestCancelled, SanicException
from sanic.handlers import ErrorHandler
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from . import errors, settings
from .responses import envelope, error_body, json_response

log = logging.getLogger("sanic_ms")
access_log = logging.getLogger("sanic_ms.access")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# application/json, or a JSON-based type such as application/problem+json; parameters may follow.
_JSON_TYPE = re.compile(r"\s*application/([\w.+-]+\+)?json\s*(;|$)", re.IGNORECASE)


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


def read_body(request: Request) -> Any:
    """The body of a POST/PUT/PATCH, parsed once; the errors it can raise come in this order.

    415 when a body comes without a JSON content type, 400 when it is not JSON (``parse_body``),
    400 when its arrays and objects nest deeper than the JSON_MAX_DEPTH setting.
    """
    body = request.body
    if not body:
        return None
    content_type = request.headers.get("content-type", "")
    if not _JSON_TYPE.match(content_type):
        raise errors.UnsupportedMediaType(
            f"Request body must be JSON, not {content_type or 'of no declared type'}",
            {"content_type": content_type or None, "hint": "send Content-Type: application/json"},
        )
    limit = request.app.config.get("JSON_MAX_DEPTH", settings.JSON_MAX_DEPTH)
    try:
        data = parse_body(request)
    except errors.BadRequest:
        if _nests_too_deep_for_orjson(body):
            raise _too_deep(limit) from None
        raise
    # Only a body with more brackets than the limit can nest past it: most bodies skip the walk.
    if body.count(b"[") + body.count(b"{") > limit and _depth(data, limit) > limit:
        raise _too_deep(limit)
    return data


def _nests_too_deep_for_orjson(body: bytes) -> bool:
    # orjson stops at 1024 levels with its own error, which parse_body reports as invalid JSON.
    # Only this rare failed parse is repeated, to read orjson's reason.
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return str(exc).startswith("depth limit exceeded")
    return False


def _depth(value: Any, limit: int) -> int:
    """How deep arrays and objects nest in ``value``; stops counting past ``limit``."""
    # Level by level, without recursion: the body is what may be too deep for recursion.
    depth, level = 0, [value] if isinstance(value, dict | list) else []
    while level and depth <= limit:
        depth += 1
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return depth


def _too_deep(limit: int) -> errors.BadRequest:
    return errors.BadRequest(
        f"Request body nests arrays and objects deeper than {limit} levels (JSON_MAX_DEPTH)",
        {"limit": limit},
    )


def check_request(request: Request) -> None:
    """Check parameters and body against what the route declared (sanic_ms.openapi builds these)."""
    validators = getattr(request.app.ctx, "openapi_validators", None) or {}
    if request.route is None:  # only a routed request reaches a handler; nothing declared
        return
    validator = validators.get((request.route.name, request.method))
    if validator is not None:
        validator.check(request, getattr(request.ctx, "data", None))


Handler = Callable[..., Awaitable[Any]]


def wrap_handler(handler: Handler) -> Handler:
    """Wrap one route handler: read and check the request, then put its result in the envelope.

    This runs only once Sanic has routed the request and read its whole body: its own errors (413,
    414, 431, 404, 405) are answered before, and never masked by ours.
    """
    if getattr(handler, "__sanic_ms_wrapped__", False) or getattr(handler, "is_stream", False):
        return handler

    @functools.wraps(handler)
    async def handle(request: Request, *args: Any, **kwargs: Any) -> BaseHTTPResponse:
        if request.method in BODY_METHODS:
            request.ctx.data = read_body(request)
        check_request(request)
        response = envelope(await handler(request, *args, **kwargs))
        if request.app.config.CORS_ORIGINS:
            add_cors(request, response)
        return response

    setattr(handle, "__sanic_ms_wrapped__", True)  # noqa: B010  (a marker mypy cannot type)
    return handle


def wrap_routes(app: DefaultSanic) -> None:
    """Wrap every route's handler (run at startup, once all blueprints are registered)."""
    for route in app.router.routes:
        route.handler = wrap_handler(route.handler)


def cors_headers(app: DefaultSanic, request: Request) -> dict[str, str]:
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
        if isinstance(exception, RequestCancelled):
            # The client closed the connection before the answer: nobody will read one, and it is
            # not a bug of ours (wrk and locust do it at the end of every run).
            log.info("client went away during %s %s", request.method, request.path)
            return HTTPResponse(status=499)
        exception = _precise(request, exception)
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


def _precise(request: Request | None, exception: BaseException) -> BaseException:
    """Sanic's own error, said precisely: which part of the head was too large, what is allowed."""
    if request is None:
        return exception
    if isinstance(exception, PayloadTooLarge) and "header" in str(exception).lower():
        return _head_too_large(request)
    if isinstance(exception, MethodNotAllowed) and not (exception.headers or {}).get("Allow"):
        # Sanic's router names the allowed methods for static paths only, not for /users/<id>.
        allowed = _allowed_methods(request)
        if allowed:
            exception.headers = {**(exception.headers or {}), "Allow": ", ".join(allowed)}
    return exception


def _head_too_large(request: Request) -> errors.ServiceError:
    # Sanic reads at most HEADER_MAX_SIZE bytes of head and raises one error for either part; what
    # it buffered tells which: a request line (method, URL, version) that never ended is the URL.
    stream = getattr(request, "stream", None)
    limit = getattr(stream, "HEADER_MAX_SIZE", 0) or request.app.config.REQUEST_MAX_HEADER_SIZE
    buffered = bytes(getattr(stream, "recv_buffer", b"") or b"")
    line_end = buffered.find(b"\r\n")
    if line_end == -1 or line_end >= limit:
        return errors.URITooLong(f"URI too long (the request line is over {limit} bytes)")
    return errors.HeaderFieldsTooLarge(
        f"Request header fields too large (over {limit} bytes with the request line)"
    )


def _allowed_methods(request: Request) -> list[str]:
    router = request.app.router
    host = request.headers.getone("host", None)
    allowed = []
    for method in sorted({m for route in router.routes for m in route.methods}):
        try:
            router.get(request.path, method, host)
        except SanicException:
            continue
        allowed.append(method)
    return allowed


def setup(app: DefaultSanic) -> None:
    """Install the pipeline on an app."""
    app.error_handler = EnvelopeErrorHandler()

    async def _wrap(app: DefaultSanic) -> None:
        wrap_routes(app)

    # register_listener, not the decorator: Sanic types @before_server_start(priority=...) wrongly.
    app.register_listener(_wrap, "before_server_start", priority=1000)
