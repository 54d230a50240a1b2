"""Swagger UI at /openapi/: served from the swagger-ui-bundle wheel, and it renders the API offline."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile

import aiohttp
import pytest

from examples.users.server import create_app as create_users
from sanic_ms.openapi import UI_ASSETS, ui_assets_dir
from sanic_ms.serve import serve


@pytest.fixture
async def users(example_tables):
    app = create_users({"DATABASE_URL": example_tables, "LOG_LEVEL": "WARNING"})
    async with serve(app) as url, aiohttp.ClientSession() as session:
        yield url, session


async def test_the_page_loads_only_files_served_here(users):
    url, session = users
    async with session.get(url + "/openapi/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    references = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "swagger-ui-bundle.js" in references and "swagger-ui.css" in references
    # No CDN: every file is relative to /openapi/, so the docs work without a network.
    assert not [r for r in references if "//" in r or r.startswith("/")]
    assert 'url: "spec.json"' in page and "validatorUrl: null" in page
    for name in UI_ASSETS:
        async with session.get(url + "/openapi/" + name) as response:
            assert response.status == 200, name
            assert await response.read() == (ui_assets_dir() / name).read_bytes()


async def test_openapi_without_the_slash_redirects(users):
    url, session = users
    async with session.get(url + "/openapi", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["location"] == "/openapi/"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.timeout(180)
@pytest.mark.skipif(
    chromium() is None,
    reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)",
)
async def test_a_headless_browser_sees_the_users_endpoints_listed(users):
    url, session = users
    async with session.get(url + "/openapi/spec.json") as response:
        spec = await response.json()
    with tempfile.TemporaryDirectory() as profile:
        process = await asyncio.create_subprocess_exec(
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            # Any host but loopback fails to resolve: a CDN reference could not load.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url + "/openapi/",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        dom, errors = await asyncio.wait_for(process.communicate(), timeout=150)
    dom = dom.decode(errors="replace")
    assert process.returncode == 0, errors.decode(errors="replace")[-2000:]
    listed = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert listed == set(spec["paths"]), dom[-3000:]
    for item in spec["paths"].values():
        for operation in item.values():
            assert f'href="#/users/{operation["operationId"]}"' in dom
    assert "List users, a page at a time" in dom  # a summary from @doc.summary
