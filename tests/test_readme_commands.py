"""The commands the docs give, run as typed, as processes: each serves the envelope, then stops.

The commands are read from README.md, each example's ``server.py`` docstring, docker-compose.yml
and docker/Dockerfile, never retyped here. Without a container engine, the compose file is run
the way its containers would run it, with the container network mapped to loopback: a service
name in an environment URL becomes the port compose publishes on 127.0.0.1 (``postgres`` a fresh
local database, ``zipkin`` the local collector), ``0.0.0.0`` becomes ``127.0.0.1``, the image's
``/app`` is this checkout, and Jupyter, which the image runs as an unprivileged user, is told it
may run as root. Every line a service of ours prints must be one JSON object.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib
import json
import os
import re
import shlex
import signal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
import yaml

from grader.postgres import create_database, drop_database
from sanic_ms.tracing.collector import Collector
from tests.processes import REPO, Process, environment, wait_for_port

README = (REPO / "README.md").read_text()
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "docker" / "Dockerfile").read_text()
EXAMPLES = ["users", "cities", "roles"]

pytestmark = pytest.mark.timeout(300)


def documented_commands() -> list[str]:
    """``sanic ...`` commands in README.md and in each example server's docstring."""
    texts = [README]
    texts += [importlib.import_module(f"examples.{n}.server").__doc__ for n in EXAMPLES]
    found = [c for text in texts for c in re.findall(r"`(sanic [^`]+)`", text)]
    return list(dict.fromkeys(found))


def port_of(argv: list[str]) -> int:
    return int(argv[argv.index("--port") + 1])


def loopback(argv: list[str]) -> list[str]:
    """What runs in a container listens on every interface; here, on loopback only."""
    return [arg.replace("0.0.0.0", "127.0.0.1") for arg in argv]


def health_path(argv: list[str]) -> str:
    """A route of the service the command starts: its collection, one row."""
    service = next(n for n in EXAMPLES if f"examples.{n}.server" in " ".join(argv))
    return f"/{service}?size=1"


@pytest.fixture(scope="module", autouse=True)
def example_ports():
    """The documented ports are fixed: one run of these tests at a time on this machine."""
    with open("/tmp/sanic-ms-documented-ports.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


async def get_envelope(url: str) -> dict:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body = await response.json(content_type=None)
        assert response.status == 200, (url, response.status, body)
    assert body["code"] == 0 and "data" in body, body
    return body


# Sanic 25.12's manager keeps worker states in a multiprocessing manager's dict. Ctrl-C reaches
# that manager's own process too, and a state read after it stopped comes back None: the main
# process then fails, either in WorkerProcess.set_state (a TypeError; seen with --dev, three
# services starting at once on a loaded machine) or in WorkerManager._sync_states (an
# AttributeError; seen once in a CI run), and exits 1 after stopping everything. Its bug, not
# the command's: the service served and left nothing behind, which is still checked.
SANIC_SHUTDOWN_RACES = (
    ("TypeError: 'NoneType' object is not a mapping", "set_state"),
    ("AttributeError: 'NoneType' object has no attribute 'get'", "_sync_states"),
)


async def stop_cleanly(process: Process, sig: int = signal.SIGINT) -> None:
    code = await process.stop(sig)
    output = process.output()
    sanic_race = code == 1 and any(
        error in output and where in output for error, where in SANIC_SHUTDOWN_RACES
    )
    assert code == 0 or sanic_race, f"{process} exited {code}:\n{output}"
    assert not await process.leftovers(), f"{process} left processes behind"
    if not sanic_race:  # Sanic prints that failure as its own box, not as a log record
        process.records()  # every line JSON


async def run_and_check(argv: list[str], env: dict[str, str], workers: int) -> None:
    await wait_for_port(port_of(argv))
    process = await Process(argv, env).start()
    try:
        await process.wait_serving(workers)
        url = f"http://127.0.0.1:{port_of(argv)}{health_path(argv)}"
        for _ in range(2 * workers):  # new connections, so more than one worker answers
            await get_envelope(url)
        await stop_cleanly(process)
    finally:
        await process.kill()


MODES = {"as written": ([], 1), "--dev": (["--dev"], 1), "--workers 2": (["--workers", "2"], 2)}


def test_the_readme_gives_the_factory_command_for_each_example():
    commands = documented_commands()
    assert any(f"`{c}`" in README for c in commands)
    for name in EXAMPLES:
        assert any(f"examples.{name}.server:create_app --factory" in c for c in commands), name


@pytest.mark.parametrize("mode", list(MODES))
async def test_documented_commands_serve_and_stop(mode, example_tables):
    """Each documented ``sanic`` command, all at once (their ports differ), in one mode."""
    extra, workers = MODES[mode]
    env = environment(DATABASE_URL=example_tables, LOG_LEVEL="INFO")
    commands = [shlex.split(c) + extra for c in documented_commands()]
    await asyncio.gather(*(run_and_check(argv, env, workers) for argv in commands))


async def test_a_documented_command_needs_no_database_url_on_a_laptop():
    """No DATABASE_URL set: the example's factory takes the development server (grader.postgres:
    127.0.0.1:5432 here, else an embedded one), as ``make demo`` does."""
    argv = shlex.split(next(c for c in documented_commands() if "examples.cities.server" in c))
    await wait_for_port(port_of(argv))
    process = await Process(argv, environment(LOG_LEVEL="INFO")).start()
    try:
        # "serving on" comes after before_server_start: the pool is connected by then (its tables
        # are `make migrate`'s business, so no query here).
        await process.wait_serving(1)
        await stop_cleanly(process)
    finally:
        await process.kill()


# --- docker-compose.yml, without Docker --------------------------------------------------------


def compose_argv(name: str) -> list[str]:
    command = COMPOSE["services"][name]["command"]
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    # The image's working directory and PYTHONPATH is /app: this checkout.
    return [arg.replace("/app", str(REPO)) for arg in loopback(argv)]


def published(name: str) -> dict[int, int]:
    """Container port -> host port, from the service's ``ports``."""
    out = {}
    for mapping in COMPOSE["services"][name].get("ports", []):
        _host, host_port, container_port = str(mapping).split(":")
        out[int(container_port)] = int(host_port)
    return out


def interpolate(value: str) -> str:
    """Compose's ``${NAME}`` and ``${NAME:-default}``, from this environment."""
    return re.sub(
        r"\$\{(\w+)(?::-([^}]*))?\}",
        lambda m: os.environ.get(m[1]) or (m[2] or ""),
        value,
    )


def compose_environment(name: str, database_url: str, zipkin_url: str) -> dict[str, str]:
    """The service's compose environment with every compose host mapped to loopback."""
    env = {}
    for key, value in (COMPOSE["services"][name].get("environment") or {}).items():
        value = interpolate(str(value))
        url = urlsplit(value)
        if url.scheme and url.hostname in COMPOSE["services"]:
            if url.hostname == "postgres":
                value = database_url
            elif url.hostname == "zipkin":
                value = zipkin_url
            else:
                port = published(url.hostname)[url.port]
                value = urlunsplit(url._replace(netloc=f"127.0.0.1:{port}"))
        env[key] = value
    return environment(**env)


def healthcheck_argv(name: str) -> list[str]:
    test = COMPOSE["services"][name]["healthcheck"]["test"]
    assert test[0] == "CMD", f"{name}: healthcheck runs a command directly"
    return test[1:]


@pytest.fixture
async def compose_database():
    """What the compose ``postgres`` service starts as: an empty database."""
    dsn = await create_database("test_compose")
    yield dsn
    await drop_database(dsn)


async def test_the_compose_stack_runs_without_docker(compose_database):
    services = [n for n in EXAMPLES if n in COMPOSE["services"]]
    async with Collector() as zipkin:

        def env(name):
            return compose_environment(name, compose_database, zipkin.url)

        migrate = await Process(compose_argv("migrate"), env("migrate")).start()
        assert await migrate.wait() == 0, migrate.output()
        assert "created table" in migrate.output()

        # In dependency order, as compose starts them; each must be healthy before the next.
        order = sorted(services, key=lambda n: n in COMPOSE["services"]["users"]["depends_on"])
        order.reverse()
        processes = {}
        try:
            for name in order:
                argv = compose_argv(name)
                await wait_for_port(port_of(argv))
                processes[name] = await Process(argv, env(name)).start()
                await processes[name].wait_serving()
                check = await Process(healthcheck_argv(name), environment()).start()
                assert await check.wait(30) == 0, f"{name} unhealthy:\n{check.output()}"

            base = {n: f"http://127.0.0.1:{port_of(compose_argv(n))}" for n in services}
            async with aiohttp.ClientSession() as session:
                ids = {}
                for name, key in (("cities", "city"), ("roles", "role")):
                    body = {"name": f"compose-{key}"}
                    async with session.post(f"{base[name]}/{name}", json=body) as response:
                        assert response.status == 200, await response.text()
                        ids[key] = (await response.json())["data"]["id"]
                user = {"name": "ada", "age": 36, "city_id": ids["city"], "role_id": ids["role"]}
                async with session.post(f"{base['users']}/users", json=user) as response:
                    assert response.status == 200, await response.text()
                    user_id = (await response.json())["data"]["id"]
            # users reaches cities and roles through CITIES_/ROLES_SERVICE_URL.
            body = await get_envelope(f"{base['users']}/users/{user_id}")
            assert body["data"]["city"]["name"] == "compose-city"
            assert body["data"]["role"]["name"] == "compose-role"

            for name in services:  # docker stop sends SIGTERM
                await stop_cleanly(processes[name], signal.SIGTERM)
        finally:
            for process in processes.values():
                await process.kill()
        # ZIPKIN_URL reached the collector: spans from every service, flushed at shutdown.
        await zipkin.wait_for_spans(1, where=lambda s: s["localEndpoint"]["serviceName"] == "users")
        reported = {s["localEndpoint"]["serviceName"] for s in zipkin.spans}
    assert set(services) <= reported  # (migrate is a command line tool: its report is text)


async def test_the_compose_notebook_service_runs_without_docker(compose_database):
    argv = compose_argv("jupyter")
    if os.geteuid() == 0:  # the image runs it as its `workshop` user; Jupyter refuses root
        argv.append("--allow-root")
    env = compose_environment("jupyter", compose_database, "http://127.0.0.1:9")
    port = int(next(a for a in argv if a.startswith("--port=")).partition("=")[2])
    await wait_for_port(port)
    process = await Process(argv, env).start()
    try:
        for _ in range(240):  # Jupyter says nothing we can wait for: its healthcheck decides
            check = await Process(healthcheck_argv("jupyter"), environment()).start()
            if await check.wait(30) == 0:
                break
            assert process.proc.returncode is None, process.output()
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"jupyter never healthy:\n{process.output()}")
        url = f"http://127.0.0.1:{port}/api/contents?token={env['JUPYTER_TOKEN']}"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200, await response.text()
            names = {item["name"] for item in (await response.json())["content"]}
        assert {"notebooks", "labs"} <= names  # its root is the image's /app: this checkout
        assert await process.stop(signal.SIGTERM) == 0, process.output()
        assert not await process.leftovers()
    finally:
        await process.kill()


# --- docker/Dockerfile ------------------------------------------------------------------------


def dockerfile_cmd() -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


def dockerfile_env() -> dict[str, str]:
    text = DOCKERFILE.replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line.removeprefix("ENV ")):
                key, _, value = pair.partition("=")
                env[key] = value.replace("/app", str(REPO))
    return env


async def test_the_images_default_command_serves(example_tables):
    """``docker run -e DATABASE_URL=... sanic-ms-workshop``: the image alone serves users."""
    argv = loopback(dockerfile_cmd())
    env = environment(**dockerfile_env(), DATABASE_URL=example_tables)
    assert Path(env["PYTHONPATH"]) == REPO
    await run_and_check(argv, env, workers=1)
