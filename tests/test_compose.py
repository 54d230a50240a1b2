"""docker-compose.yml agrees with the code: settings names, default ports, routes, dependencies.

No container engine runs here, so the file is read with PyYAML and checked against what the code
itself declares (sanic_ms.settings, each example's ``PORT`` and routes, the migrations).
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from sanic_ms import migrations, settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
EXAMPLES = ["users", "cities", "roles"]
# Variables read by a third-party program inside our image, not by sanic_ms.
THIRD_PARTY_ENV = {"jupyter": {"JUPYTER_TOKEN"}}
SERVICE_URL = re.compile(r"(?P<name>[A-Z][A-Z0-9_]*)_SERVICE_URL")


def server(name):
    return importlib.import_module(f"examples.{name}.server")


def ours(name):
    """Services run from the image docker/Dockerfile builds."""
    return "build" in SERVICES[name]


def environment(name) -> dict[str, str]:
    env = SERVICES[name].get("environment") or {}
    assert isinstance(env, dict), f"{name}: write environment as a mapping"
    return {key: str(value) for key, value in env.items()}


def published(name) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) for each port mapping."""
    out = []
    for mapping in SERVICES[name].get("ports", []):
        host, host_port, container_port = str(mapping).split(":")
        out.append((host, int(host_port), int(container_port)))
    return out


def healthcheck_url(name) -> str:
    test = SERVICES[name]["healthcheck"]["test"]
    return next(part for part in reversed(test) if part.startswith("http"))


def test_the_issue_services_are_all_there():
    assert {"postgres", "zipkin", "jupyter", *EXAMPLES} <= set(SERVICES)
    assert SERVICES["zipkin"]["image"].startswith("openzipkin/zipkin")
    assert SERVICES["postgres"]["image"].startswith("postgres:")


def test_the_database_port_is_bound_to_loopback_only():
    ports = published("postgres")
    assert ports, "postgres publishes no port"
    assert all(host == "127.0.0.1" for host, _, _ in ports)


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_runs_its_factory_on_its_default_port(name):
    port = server(name).PORT
    command = SERVICES[name]["command"]
    argv = shlex.split(command) if isinstance(command, str) else command

    assert argv[:3] == ["sanic", f"examples.{name}.server:create_app", "--factory"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == str(port)
    assert published(name) == [("127.0.0.1", port, port)]


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_healthcheck_asks_a_route_the_service_has(name):
    port = server(name).PORT
    url = urlsplit(healthcheck_url(name))
    app = server(name).create_app()

    assert (url.hostname, url.port) == ("127.0.0.1", port)
    paths = {"/" + route.path for route in app.router.routes if "GET" in route.methods}
    assert url.path in paths, f"{name} has no GET {url.path}; it has {sorted(paths)}"


@pytest.mark.parametrize("name", [n for n in SERVICES if ours(n)])
def test_environment_names_are_settings_the_code_reads(name):
    known = set(settings.defaults())
    env = environment(name)
    for key, value in env.items():
        if key in known or key in THIRD_PARTY_ENV.get(name, set()):
            continue
        match = SERVICE_URL.fullmatch(key)
        assert match, f"{name}: {key} is not a setting in sanic_ms/settings.py"
        target = match["name"].lower()
        assert target in EXAMPLES, f"{name}: {key} names no example service"
        url = urlsplit(value)
        assert (url.hostname, url.port) == (target, server(target).PORT), f"{name}: {key}={value}"
    # The values parse as the settings' types (a typo such as TRACING_SAMPLE_RATE=high fails).
    settings.load(environ={k: v for k, v in env.items() if k not in THIRD_PARTY_ENV.get(name, ())})


@pytest.mark.parametrize("name", [n for n in SERVICES if ours(n)])
def test_every_container_of_ours_is_given_the_compose_database(name):
    # Without DATABASE_URL, grader.postgres.resolve() would start an embedded server inside.
    db = SERVICES["postgres"]["environment"]
    url = urlsplit(environment(name)["DATABASE_URL"])

    assert (url.hostname, url.port) == ("postgres", 5432)
    assert (url.username, url.password) == (db["POSTGRES_USER"], db["POSTGRES_PASSWORD"])
    assert url.path == "/" + db["POSTGRES_DB"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_downstream_an_example_calls_is_redirected_to_its_container(name):
    # The defaults point at 127.0.0.1, which inside a container is the container itself.
    env = environment(name)
    for downstream in server(name).SETTINGS.get("SERVICES", {}):
        key = f"{downstream.upper()}_SERVICE_URL"
        assert key in env, f"{name} calls {downstream} but compose does not set {key}"
        assert downstream in SERVICES[name]["depends_on"]


def test_spans_go_to_the_zipkin_container():
    zipkin_port = published("zipkin")[0][2]
    for name in EXAMPLES:
        url = urlsplit(environment(name)["ZIPKIN_URL"])
        assert (url.hostname, url.port) == ("zipkin", zipkin_port)


def test_dependencies_wait_on_conditions_that_can_be_met():
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for target, spec in depends.items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} has no healthcheck"
            elif condition == "service_completed_successfully":
                assert SERVICES[target].get("restart") == "no", f"{target} must run once"
            else:
                assert condition == "service_started", f"{name}: odd condition {condition}"


def test_long_running_services_have_healthchecks():
    for name, service in SERVICES.items():
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_the_examples_wait_for_their_migrations_which_cover_every_example():
    command = SERVICES["migrate"]["command"]
    argv = shlex.split(command) if isinstance(command, str) else command
    assert argv[:4] == ["python", "-m", "sanic_ms", "migrate"]

    tables = {cls.table() for cls in migrations.discover(argv[4:])}
    assert tables == set(EXAMPLES)
    for name in EXAMPLES:
        condition = SERVICES[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_the_image_builds_from_files_that_exist():
    for name in [n for n in SERVICES if ours(n)]:
        build = SERVICES[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).is_file()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".pgdata", ".git"} <= set(ignored)
