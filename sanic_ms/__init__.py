"""sanic_ms: a small framework for fast, observable async microservices on Sanic."""

from .app import create_app
from .concurrency import async_request
from .errors import (
    BadGateway,
    BadRequest,
    Conflict,
    DownstreamError,
    Forbidden,
    GatewayTimeout,
    Gone,
    HeaderFieldsTooLarge,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    ServerError,
    ServiceError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
    UnsupportedMediaType,
    URITooLong,
)
from .log import logger

__all__ = [
    "BadGateway",
    "BadRequest",
    "Conflict",
    "DownstreamError",
    "Forbidden",
    "GatewayTimeout",
    "Gone",
    "HeaderFieldsTooLarge",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "ServiceError",
    "ServiceUnavailable",
    "TooManyRequests",
    "URITooLong",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "async_request",
    "create_app",
    "logger",
]
