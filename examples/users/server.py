"""The users service: `sanic examples.users.server:create_app --factory --port 8001`."""

from __future__ import annotations

from typing import Any

from sanic import Sanic

from examples.base import service_app

from .views import bp

NAME = "users"
PORT = 8001  # default port; docker-compose.yml and the demo use the same
SETTINGS: dict[str, Any] = {
    "SERVICES": {"cities": "http://127.0.0.1:8002", "roles": "http://127.0.0.1:8003"}
}


def create_app(settings: dict[str, Any] | None = None) -> Sanic:
    """The service; ``settings`` win over its SETTINGS and over the environment."""
    return service_app(NAME, bp, settings, SETTINGS)
