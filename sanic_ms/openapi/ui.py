"""Serving the document at ``/openapi/spec.json`` and Swagger UI at ``/openapi/``: ``setup``."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from swagger_ui_bundle import swagger_ui_path

from .declarations import doc_of
from .document import build

SPEC_PATH = "/openapi/spec.json"
UI_PATH = "/openapi/"

# The Swagger UI files we serve, from the swagger-ui-bundle wheel (no CDN: docs work offline).
UI_ASSETS = (
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
)

_UI_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} · API docs</title>
  <link rel="stylesheet" href="swagger-ui.css">
  <link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script src="swagger-ui-standalone-preset.js"></script>
  <script>
    // validatorUrl null: Swagger UI would otherwise send the spec to validator.swagger.io.
    window.ui = SwaggerUIBundle({{
      url: "spec.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: "StandaloneLayout"
    }});
  </script>
</body>
</html>
"""


def ui_assets_dir() -> Path:
    """Where the swagger-ui-bundle wheel keeps Swagger UI's files."""
    return Path(swagger_ui_path)


def setup(app: Sanic[Any, Any]) -> None:
    """Serve the document and Swagger UI, and validate requests against their declarations.

    The document is built in ``before_server_start``, once every blueprint is registered; a model
    or source it cannot describe stops the server there with a SchemaError. The validators reach
    ``sanic_ms.middleware`` through ``app.ctx.openapi_validators`` (it imports nothing of ours).
    """
    app.ctx.openapi = None
    app.ctx.openapi_validators = {}

    async def openapi_spec(request: Request) -> HTTPResponse:
        return response.json(request.app.ctx.openapi)

    async def openapi_ui(request: Request) -> HTTPResponse:
        title = html.escape(request.app.ctx.openapi["info"]["title"])
        return response.html(_UI_PAGE.format(title=title))

    async def openapi_ui_redirect(request: Request) -> HTTPResponse:
        # Swagger UI's page loads its files relative to /openapi/, so the slash matters.
        return response.redirect(UI_PATH)

    for handler in (openapi_spec, openapi_ui, openapi_ui_redirect):
        doc_of(handler).exclude = True  # the document's own routes are not part of the API
    app.add_route(openapi_spec, SPEC_PATH, methods=["GET"], name="openapi_spec")
    app.add_route(openapi_ui, UI_PATH, methods=["GET"], name="openapi_ui", strict_slashes=True)
    app.add_route(
        openapi_ui_redirect,
        UI_PATH.rstrip("/"),
        methods=["GET"],
        name="openapi_ui_redirect",
        strict_slashes=True,
    )
    assets = ui_assets_dir()
    for asset in UI_ASSETS:
        app.static(UI_PATH + asset, str(assets / asset), name="openapi_" + asset.replace(".", "_"))

    @app.before_server_start
    async def _build_openapi(app: Sanic[Any, Any]) -> None:
        # The validators run in sanic_ms.middleware's handler wrapper, on the body it parsed once.
        app.ctx.openapi, app.ctx.openapi_validators = build(app)
