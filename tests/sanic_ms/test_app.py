"""create_app: what a factory does when Sanic's CLI calls it, and when settings are refused."""

from __future__ import annotations

import argparse

import pytest
from sanic import Sanic

from examples.cities.server import create_app as create_cities
from sanic_ms import app as app_module
from sanic_ms import create_app
from sanic_ms.dsn import MissingDatabaseURL


@pytest.fixture
def strict_names(monkeypatch):
    """Sanic outside tests: a second app with a taken name raises."""
    monkeypatch.setattr(Sanic, "test_mode", False)
    monkeypatch.setattr(Sanic, "_app_registry", {})


def test_a_factory_given_sanics_namespace_ignores_it(strict_names):
    # What `sanic examples.cities.server:create_app --factory --port 8002` passes first.
    app = create_cities(argparse.Namespace(port=8002, workers=1, dev=False))

    assert app.name == "cities"
    assert app.config.DB_MAX_SIZE == 10  # the defaults, not anything read off the Namespace
    assert Sanic.get_app("cities") is app


@pytest.mark.parametrize(
    ("settings", "environ", "error"),
    [
        (["not", "a", "dict"], {}, TypeError),
        (None, {"TRACING_SAMPLE_RATE": "high"}, ValueError),
        ({"LOG_CONFIG": "/no/such/logging.yml"}, {}, FileNotFoundError),
    ],
)
def test_refused_settings_leave_the_name_free(strict_names, monkeypatch, settings, environ, error):
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(error):
        create_app("refused", settings)
    monkeypatch.delenv("TRACING_SAMPLE_RATE", raising=False)

    assert create_app("refused").name == "refused"  # a retry, as Sanic's CLI does, succeeds


def test_a_failure_after_sanic_registered_the_app_unregisters_it(strict_names, monkeypatch):
    def broken(app):
        raise RuntimeError("tracing setup failed")

    monkeypatch.setattr(app_module.tracing, "setup", broken)
    with pytest.raises(RuntimeError, match="tracing setup failed"):
        create_app("half-built")

    assert "half-built" not in Sanic._app_registry


def test_without_a_database_url_create_app_says_what_to_set(strict_names, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(MissingDatabaseURL) as raised:
        create_app("no-database")

    message = str(raised.value)
    assert "create_app('no-database')" in message
    assert "export DATABASE_URL=postgresql://" in message
    assert "no-database" not in Sanic._app_registry  # nothing half-registered
    assert create_app("no-database", {"DATABASE_URL": "postgresql://h/db"}).name == "no-database"


def test_the_database_url_can_come_from_the_environment(strict_names, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://env-host/env_db")

    assert create_app("from-env").config.DATABASE_URL == "postgresql://env-host/env_db"
