"""sanic_ms.testing.fakes: fake downstream services behind the real Client."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from sanic_ms import errors
from sanic_ms.client import Client
from sanic_ms.testing import MockServices, UnmockedCall

REPO = Path(__file__).resolve().parents[3]


def client_for(mocks: MockServices, name: str = "cities", base: str = "http://cities:8000"):
    return Client(name, base, session_factory=mocks.session_factory)


# -- mocks behind the real Client ----------------------------------------------------------


async def test_a_path_mock_answers_and_records_the_call():
    mocks = MockServices()
    city = mocks.get("/cities/1", payload={"code": 0, "data": {"id": 1, "name": "Lisbon"}})
    client = client_for(mocks)
    assert await client.get("/cities/1", params={"lang": "pt"}) == {"id": 1, "name": "Lisbon"}
    assert city.call_count == 1
    call = city.calls[0]
    assert (call.method, call.url, call.params) == (
        "GET",
        "http://cities:8000/cities/1?lang=pt",
        {"lang": "pt"},
    )
    created = mocks.post("/cities", payload={"id": 2, "name": "Porto"})
    assert await client.post("/cities", json={"name": "Porto"}) == {"id": 2, "name": "Porto"}
    assert created.calls[0].json == {"name": "Porto"}
    assert [c.method for c in mocks.calls] == ["GET", "POST"]
    await client.close()


async def test_absolute_urls_queries_and_patterns_narrow_a_mock():
    mocks = MockServices()
    mocks.get("http://roles:8000/roles/1", payload={"id": 1, "name": "admin"})
    mocks.get("/cities?page=2", payload=["page two"])
    mocks.get(re.compile(r"/cities/\d+$"), payload={"id": 9})
    cities, roles = client_for(mocks), client_for(mocks, "roles", "http://roles:8000")
    assert await roles.get("/roles/1") == {"id": 1, "name": "admin"}
    with pytest.raises(UnmockedCall):
        await cities.get("/roles/1")  # the roles mock is for the roles service only
    assert await cities.get("/cities", params={"page": 2}) == ["page two"]
    with pytest.raises(UnmockedCall):
        await cities.get("/cities", params={"page": 3})
    assert await cities.get("/cities/42") == {"id": 9}


async def test_times_lets_a_later_mock_answer_the_next_call():
    mocks = MockServices()
    first = mocks.get("/cities/1", payload={"v": 1}, times=1)
    mocks.get("/cities/1", payload={"v": 2})
    client = client_for(mocks)
    assert [await client.get("/cities/1") for _ in range(3)] == [{"v": 1}, {"v": 2}, {"v": 2}]
    assert first.call_count == 1


async def test_statuses_and_exceptions_go_through_the_clients_error_mapping():
    mocks = MockServices()
    mocks.get("/cities/404", status=404, payload={"code": 404, "message": "city 404 not found"})
    mocks.get("/cities/500", status=500, body="boom", content_type="text/plain")
    mocks.get("/cities/down", exception=aiohttp.ClientConnectionError)
    mocks.get("/cities/slow", exception=TimeoutError())
    client = client_for(mocks)
    with pytest.raises(errors.DownstreamError) as missing:
        await client.get("/cities/404")
    assert missing.value.status_code == 404 and "city 404 not found" in missing.value.message
    with pytest.raises(errors.BadGateway, match="failed with 500"):
        await client.get("/cities/500")
    with pytest.raises(errors.BadGateway, match="could not be reached"):
        await client.get("/cities/down")
    with pytest.raises(errors.GatewayTimeout):
        await client.get("/cities/slow")


async def test_an_unregistered_call_names_its_method_and_url():
    mocks = MockServices()
    mocks.get("/cities/1", payload={})
    with pytest.raises(UnmockedCall) as failure:
        await client_for(mocks).delete("/cities/2")
    message = str(failure.value)
    assert "DELETE http://cities:8000/cities/2" in message and "GET /cities/1" in message
    assert [c.url for c in mocks.unmatched] == ["http://cities:8000/cities/2"]
    with pytest.raises(UnmockedCall, match="DELETE http://cities:8000/cities/2"):
        mocks.check()
