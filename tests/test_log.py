"""JSON log lines and the @logger decorator."""

from __future__ import annotations

import io
import json
import logging

import pytest

from sanic_ms.log import logger, setup_logging
from sanic_ms.settings import LOG_CONFIG


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
