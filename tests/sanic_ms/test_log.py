"""JSON log lines and the @logger decorator."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
import pytest

from sanic_ms.log import logger, setup_logging
from sanic_ms.serve import free_port
from sanic_ms.settings import LOG_CONFIG
from tests.processes import REPO, Process, environment


@pytest.fixture
def json_lines():
    setup_logging(LOG_CONFIG)
    stream = io.StringIO()
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    for f in root.handlers[0].filters:
        handler.addFilter(f)
    logging.getLogger("sanic_ms").addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger("sanic_ms").removeHandler(handler)


async def test_logger_writes_one_json_object_per_call(json_lines):
    @logger(type="method", category="cities", detail="by id", description="fetch a city")
    async def get_city(id):
        return {"id": id}

    assert await get_city(3) == {"id": 3}
    [line] = json_lines()
    assert line["message"] == "fetch a city"
    assert line["level"] == "INFO" and line["logger"] == "sanic_ms"
    assert (line["type"], line["category"], line["detail"], line["outcome"]) == (
        "method",
        "cities",
        "by id",
        "ok",
    )
    assert line["duration_ms"] >= 0


async def test_logger_defaults_description_to_the_docstring_and_logs_failures(json_lines):
    @logger()
    async def flaky():
        """Call something that breaks."""
        raise ValueError("nope")

    with pytest.raises(ValueError, match="nope"):
        await flaky()
    [line] = json_lines()
    assert line["level"] == "ERROR" and line["outcome"] == "error"
    assert line["description"] == "Call something that breaks."
    assert "ValueError: nope" in line["exc_info"]


def test_logger_refuses_plain_functions():
    with pytest.raises(TypeError, match="decorates async functions"):

        @logger()
        def sync():
            pass


def test_logging_config_is_safe_yaml():
    with open(LOG_CONFIG, encoding="utf-8") as f:
        text = f.read()
    assert "!!python" not in text  # yaml.safe_load would refuse it anyway


# --- under the `sanic` command, which loads tracerite ----------------------------------------

FAILING_APP = '''
"""A service whose routes fail: one raises, one fails inside an @logger function."""

import logging

from sanic_ms import create_app as build, logger


@logger(description="call something that breaks")
async def breaks(request):
    raise ValueError("broken inside a helper")


def create_app(settings=None):
    app = build("failing", settings)

    @app.get("/boom")
    async def boom(request):
        raise RuntimeError("kaboom in a handler")

    @app.get("/helper")
    async def helper(request):
        await breaks(request)

    @app.get("/caught")
    async def caught(request):
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("sanic_ms").exception("looked up a missing key")
        return {"ok": True}

    return app
'''


@pytest.mark.timeout(180)
@pytest.mark.parametrize("extra", [[], ["--dev"]], ids=["sanic", "sanic --dev"])
async def test_error_records_are_one_json_line_each_under_the_sanic_command(
    tmp_path, database_url, extra
):
    (tmp_path / "failing.py").write_text(FAILING_APP)
    port = free_port()
    argv = ["sanic", "failing:create_app", "--factory", "--port", str(port), *extra]
    env = environment(DATABASE_URL=database_url, PYTHONPATH=str(REPO))
    process = await Process(argv, env, cwd=tmp_path).start()
    try:
        await process.wait_serving()
        statuses = {}
        async with aiohttp.ClientSession() as session:
            for path in ("/boom", "/helper", "/caught"):
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    statuses[path] = (response.status, (await response.json())["code"])
        assert await process.stop() == 0, process.output()
    finally:
        await process.kill()

    assert statuses == {"/boom": (500, 500), "/helper": (500, 500), "/caught": (200, 0)}
    records = process.records()  # every line of stdout and stderr is one JSON object
    failures = [r for r in records if r.get("exc_info")]
    tracebacks = "\n".join(r["exc_info"] for r in failures)
    assert all(r["level"] == "ERROR" for r in failures)
    for text in ("kaboom in a handler", "broken inside a helper", "KeyError: 'missing'"):
        assert text in tracebacks, (text, process.output())
    assert 'failing.py", line' in tracebacks  # the traceback itself, not only its message
    assert any(r.get("trace_id") for r in failures)  # logged inside the request's trace
