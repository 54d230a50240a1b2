"""Property-based checks of each example service against its own OpenAPI document (schemathesis).

Real servers on loopback ports, a real PostgreSQL database made for this module, and a bounded,
seeded run, so it takes a few seconds and finds the same things every time. Any 5xx, any answer
outside the document (status, content type, body schema), a valid request refused or an invalid
one accepted fails the test with schemathesis' own report.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from examples.cities.server import create_app as create_cities
from examples.roles.server import create_app as create_roles
from examples.users.server import create_app as create_users
from sanic_ms.serve import free_port, serve
from tests.examples.support import example_database

MAX_EXAMPLES = 10  # per operation and phase; with the seed below the run is reproducible
SEED = 20180101


@pytest.fixture(scope="module")
def fuzz_database():
    """A database of its own: the fuzzer writes rows other tests should not see."""
    with example_database("test_schemathesis") as dsn:
        yield dsn


async def run_schemathesis(url: str, cwd) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        url + "/openapi/spec.json",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--checks",
        "all",  # unsupported_method too: a 405 names the allowed methods in Allow
        "--generation-database",
        "none",
        "--workers",
        "1",
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output, _ = await process.communicate()
    return process.returncode, output.decode(errors="replace")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("service", ["users", "cities", "roles"])
async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_spec(
    service, fuzz_database, tmp_path
):
    settings = {"DATABASE_URL": fuzz_database, "DB_MIN_SIZE": 1, "LOG_LEVEL": "WARNING"}
    cities_port, roles_port = free_port(), free_port()
    downstream = {
        "cities": f"http://127.0.0.1:{cities_port}",
        "roles": f"http://127.0.0.1:{roles_port}",
    }
    # users fetches city and role from the real services, so all three run.
    async with (
        serve(create_cities(settings), port=cities_port) as cities_url,
        serve(create_roles(settings), port=roles_port) as roles_url,
        serve(create_users({**settings, "SERVICES": downstream})) as users_url,
    ):
        url = {"users": users_url, "cities": cities_url, "roles": roles_url}[service]
        code, output = await run_schemathesis(url, tmp_path)
    generated = re.search(r"(\d+) generated", output)
    print(f"schemathesis {service}: {generated.group(0) if generated else '?'}, exit {code}")
    assert code == 0, output[-8000:]
    assert generated and int(generated.group(1)) > 0, output[-2000:]
