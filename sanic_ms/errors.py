"""The error family every service answers with: ``{"code": ..., "message": ..., "error": ...}``."""

from __future__ import annotations

from typing import Any

from sanic.exceptions import SanicException


class ServiceError(SanicException):
    """Base of our errors: an HTTP status, a numeric ``code`` and an optional ``error`` detail.

    ``code`` is what clients switch on: the HTTP status by default, or a finer number a service
    chooses (``NotFound(code=40401, message="user 7 not found")``).
    """

    status_code = 500
    message = "Internal server error"
    quiet = True  # our own errors are expected; Sanic need not log a traceback for them

    def __init__(
        self,
        message: str | None = None,
        error: Any = None,
        *,
        code: int | None = None,
        status: int | None = None,
    ):
        if status is not None:
            self.status_code = status
        super().__init__(message or self.message, status_code=self.status_code)
        self.message = message or self.message
        self.error = error
        self.code = code if code is not None else self.status_code

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "error": self.error}


class BadRequest(ServiceError):
    status_code, message = 400, "Bad request"


class Unauthorized(ServiceError):
    status_code, message = 401, "Authentication required"


class Forbidden(ServiceError):
    status_code, message = 403, "Forbidden"


class NotFound(ServiceError):
    status_code, message = 404, "Not found"


class MethodNotAllowed(ServiceError):
    status_code, message = 405, "Method not allowed"


class NotAcceptable(ServiceError):
    status_code, message = 406, "Not acceptable"


class Conflict(ServiceError):
    status_code, message = 409, "Conflict"


class Gone(ServiceError):
    status_code, message = 410, "Gone"


class PayloadTooLarge(ServiceError):
    status_code, message = 413, "Request body too large"


class URITooLong(ServiceError):
    status_code, message = 414, "URI too long"


class UnsupportedMediaType(ServiceError):
    status_code, message = 415, "Unsupported media type"


class UnprocessableEntity(ServiceError):
    status_code, message = 422, "Unprocessable entity"


class TooManyRequests(ServiceError):
    status_code, message = 429, "Too many requests"


class HeaderFieldsTooLarge(ServiceError):
    status_code, message = 431, "Request header fields too large"


class ServerError(ServiceError):
    status_code, message = 500, "Internal server error"


class BadGateway(ServiceError):
    status_code, message = 502, "Bad gateway: a downstream service could not be reached"


class ServiceUnavailable(ServiceError):
    status_code, message = 503, "Service unavailable"


class GatewayTimeout(ServiceError):
    status_code, message = 504, "Gateway timeout: a downstream service did not answer in time"


class DownstreamError(ServiceError):
    """A downstream service answered with an error; carries its status and message."""

    def __init__(self, service: str, status: int, message: str | None, error: Any = None):
        super().__init__(
            f"{service} answered {status}: {message or 'no message'}",
            error,
            status=status,
        )
        self.service = service


BY_STATUS: dict[int, type[ServiceError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        Conflict,
        Gone,
        PayloadTooLarge,
        URITooLong,
        UnsupportedMediaType,
        UnprocessableEntity,
        TooManyRequests,
        HeaderFieldsTooLarge,
        ServerError,
        BadGateway,
        ServiceUnavailable,
        GatewayTimeout,
    )
}
