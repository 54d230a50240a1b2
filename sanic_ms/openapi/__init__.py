"""A service's OpenAPI 3.0 document: built at startup, served with Swagger UI, requests checked.

Built from the app's routes, its ``doc`` decorators and peewee models; served at
``/openapi/spec.json`` with Swagger UI at ``/openapi/``.

One concept per module, lowest first: ``declarations`` (what ``sanic_ms.doc`` records on a
handler), ``fields`` (``doc.String`` and the other described values), ``columns`` (a peewee column
becomes a JSON schema), ``schemas`` (any schema source, and the named ``components``),
``envelope`` (response schemas inside the envelope), ``document`` (routes become paths and
request validators), ``ui`` (serving it all: ``setup(app)``).
"""

from .columns import FIELD_SCHEMAS, HEX, LOCAL_DATE_TIME, TEXT, TIME, SchemaError
from .document import OPENAPI_VERSION, Builder, build
from .envelope import ERROR_SCHEMA, PAGINATION_SCHEMA
from .parameters import openapi_path
from .schemas import BODY, PATCH, RESPONSE, Schemas, model_schema
from .ui import SPEC_PATH, UI_ASSETS, UI_PATH, setup, ui_assets_dir

__all__ = [
    "BODY",
    "ERROR_SCHEMA",
    "FIELD_SCHEMAS",
    "HEX",
    "LOCAL_DATE_TIME",
    "OPENAPI_VERSION",
    "PAGINATION_SCHEMA",
    "PATCH",
    "RESPONSE",
    "SPEC_PATH",
    "TEXT",
    "TIME",
    "UI_ASSETS",
    "UI_PATH",
    "Builder",
    "SchemaError",
    "Schemas",
    "build",
    "model_schema",
    "openapi_path",
    "setup",
    "ui_assets_dir",
]
