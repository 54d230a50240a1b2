"""sanic_ms: a small framework for fast, observable async microservices on Sanic."""

from .app import create_app
from .concurrency import async_request
from .errors import (
    BadGateway,
    BadRequest,
    DownstreamError,
    Forbidden,
    GatewayTimeout,
    Gone,
    NotAcceptable,
    NotFound,
    ServerError,
    ServiceError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnprocessableEntity,
)
from .log import logger

__all__ = [
    "BadGateway",
    "BadRequest",
    "DownstreamError",
    "Forbidden",
    "GatewayTimeout",
    "Gone",
    "NotAcceptable",
    "NotFound",
    "ServerError",
    "ServiceError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "async_request",
    "create_app",
    "logger",
]
