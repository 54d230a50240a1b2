"""The cities service: `sanic examples.cities.server:create_app --factory --port 8002`."""

from __future__ import annotations

from typing import Any

from sanic import Sanic

from examples.base import service_app

from .views import bp

NAME = "cities"
PORT = 8002  # default port; docker-compose.yml and the demo use the same
SETTINGS: dict[str, Any] = {"SERVICES": {}}


def create_app(settings: dict[str, Any] | None = None) -> Sanic:
    """The service; ``settings`` win over its SETTINGS and over the environment."""
    return service_app(NAME, bp, settings, SETTINGS)
