"""Testing a service: fake downstream services, a client calling handlers by name, fresh databases.

One module per job: ``fakes`` (``MockServices``: the downstream services, faked behind the client's
session seam), ``client`` (``await client.get_user(id=1)``), ``database`` (a database per session,
a schema per test), ``app`` (the app under test and its tables), ``unittest`` (the 2018
``APITestCase``) and ``plugin`` (the pytest fixtures ``app``, ``client``, ``mock_services``,
``db``, ``database_url``, ``schema_dsn``; on with ``-p sanic_ms.testing``).

Importing this package changes nothing global: the plugin's ``pytest_configure`` and
``APITestCase`` call :func:`allow_same_name_apps` when they start.
"""

from __future__ import annotations

from .app import allow_same_name_apps, load_app, service_tables
from .client import APIResponse, AsyncAPIClient, Endpoint, SyncAPIClient, endpoints
from .database import TestDatabase, own_schema, server_url
from .fakes import Call, FakeResponse, FakeSession, Mock, MockServices, UnmockedCall
from .unittest import APITestCase

# `-p sanic_ms.testing` loads this package as the plugin; pytest then loads the fixtures from here.
pytest_plugins = ["sanic_ms.testing.plugin"]

__all__ = [
    "APIResponse",
    "APITestCase",
    "AsyncAPIClient",
    "Call",
    "Endpoint",
    "FakeResponse",
    "FakeSession",
    "Mock",
    "MockServices",
    "SyncAPIClient",
    "TestDatabase",
    "UnmockedCall",
    "allow_same_name_apps",
    "endpoints",
    "load_app",
    "own_schema",
    "server_url",
    "service_tables",
]
