"""Settings: defaults, then the app's own, then environment variables."""

from __future__ import annotations

import types

import pytest

from sanic_ms import settings


def test_defaults_then_service_defaults_then_environment_then_explicit_settings():
    merged = settings.load(
        {"DATABASE_URL": "postgresql://explicit/db"},
        environ={"DB_MAX_SIZE": "7", "DATABASE_URL": "postgresql://env/db", "CLIENT_TIMEOUT": "3"},
        base={"DB_MAX_SIZE": 4, "CLIENT_TIMEOUT": 2.0, "DB_MIN_SIZE": 2},
    )
    assert merged["DATABASE_URL"] == "postgresql://explicit/db"  # a test's own database wins
    assert merged["DB_MAX_SIZE"] == 7 and merged["CLIENT_TIMEOUT"] == 3.0  # env over the service's
    assert merged["DB_MIN_SIZE"] == 2  # the service's over ours
    assert merged["DB_COMMAND_TIMEOUT"] == settings.DB_COMMAND_TIMEOUT


def test_a_settings_module_works_like_a_dict():
    module = types.ModuleType("mysettings")
    module.TRACING_SAMPLE_RATE = 0.25
    module.lowercase_is_ignored = True
    merged = settings.load(environ={}, base=module)
    assert merged["TRACING_SAMPLE_RATE"] == 0.25
    assert "lowercase_is_ignored" not in merged


def test_environment_values_take_the_type_of_the_default():
    env = {
        "TRACING_ENABLED": "false",
        "TRACING_SAMPLE_RATE": "0.5",
        "ZIPKIN_URL": "http://z:9411",
        "SERVICES": '{"cities": "http://c:1"}',
    }
    merged = settings.load(environ=env)
    assert merged["TRACING_ENABLED"] is False
    assert merged["TRACING_SAMPLE_RATE"] == 0.5
    assert merged["ZIPKIN_URL"] == "http://z:9411"
    assert merged["SERVICES"] == {"cities": "http://c:1"}


def test_one_service_url_from_its_own_variable():
    merged = settings.load(
        base={"SERVICES": {"cities": "http://a", "roles": "http://b"}},
        environ={"ROLES_SERVICE_URL": "http://roles:8003"},
    )
    assert merged["SERVICES"] == {"cities": "http://a", "roles": "http://roles:8003"}


def test_a_malformed_environment_value_says_which_variable():
    with pytest.raises(ValueError, match=r"DB_MAX_SIZE='ten' is not a valid int"):
        settings.load(environ={"DB_MAX_SIZE": "ten"})
