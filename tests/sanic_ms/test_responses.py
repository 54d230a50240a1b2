"""The response envelope: what handlers return, as the client reads it, and how values serialise."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

import aiohttp
import pytest
from sanic.response import text

from sanic_ms import create_app
from sanic_ms.responses import dumps, envelope, error_body, json_response, pagination
from sanic_ms.serve import serve

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def returning_app(database_url):
    app = create_app("responses_http", {"DATABASE_URL": database_url, "DB_MIN_SIZE": 1})

    @app.get("/page/<number:int>")
    async def page(request, number):
        rows = [{"id": i} for i in range(number * 10 - 9, min(number * 10, 25) + 1)]
        return rows, pagination(number, 10, 25)

    @app.get("/pair")
    async def pair(request):
        return "left", "right"  # a 2-tuple without a pagination dict is plain data

    @app.get("/values")
    async def values(request):
        return {
            "price": decimal.Decimal("9.90"),
            "when": dt.datetime(2026, 12, 1, 21, 0, tzinfo=dt.UTC),
            "day": dt.date(2026, 12, 1),
            "id": ID,
            "tags": {"a"},
            "took": dt.timedelta(seconds=1.5),
            "blob": b"\x00\xff",
            7: "int key",
        }

    @app.get("/created")
    async def created(request):
        return text("made", status=201, headers={"location": "/things/1"})

    return app


@pytest.fixture
async def get(database_url):
    async with serve(returning_app(database_url)) as url, aiohttp.ClientSession() as session:

        async def request(path):
            async with session.get(url + path) as response:
                return response.status, response.headers, await response.read()

        yield request


async def test_a_page_carries_its_rows_and_pagination(get):
    status, headers, body = await get("/page/3")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "code": 0,
        "data": [{"id": 21}, {"id": 22}, {"id": 23}, {"id": 24}, {"id": 25}],
        "pagination": {"page": 3, "size": 10, "total": 25, "pages": 3},
    }


async def test_a_tuple_that_is_not_a_page_is_plain_data(get):
    _, _, body = await get("/pair")
    assert json.loads(body) == {"code": 0, "data": ["left", "right"]}


async def test_database_values_serialise_the_way_clients_can_read_them(get):
    status, _, body = await get("/values")
    assert status == 200
    assert json.loads(body)["data"] == {
        "price": "9.90",  # a string: a float would lose cents
        "when": "2026-12-01T21:00:00+00:00",
        "day": "2026-12-01",
        "id": str(ID),
        "tags": ["a"],
        "took": 1.5,
        "blob": "00ff",
        "7": "int key",
    }


async def test_a_ready_response_passes_through_untouched(get):
    status, headers, body = await get("/created")
    assert (status, headers["location"], body) == (201, "/things/1", b"made")


@pytest.mark.parametrize(
    ("page", "size", "total", "pages"),
    [(1, 10, 0, 0), (1, 10, 10, 1), (2, 10, 11, 2), (1, 3, 10, 4), (1, 0, 5, 0)],
)
def test_pagination_counts_the_pages(page, size, total, pages):
    assert pagination(page, size, total) == {
        "page": page,
        "size": size,
        "total": total,
        "pages": pages,
    }


def test_a_value_json_cannot_hold_is_an_error_naming_its_type():
    with pytest.raises(TypeError, match=r"not JSON serial.*\bobject\b"):
        dumps({"x": object()})


def test_naive_datetimes_are_taken_as_utc():
    assert dumps(dt.datetime(2026, 1, 2, 3, 4, 5)) == b'"2026-01-02T03:04:05+00:00"'


def test_envelope_and_error_body_shapes():
    response = envelope(None)
    assert json.loads(response.body) == {"code": 0, "data": None}
    assert json_response({"a": 1}, status=202).status == 202
    assert error_body(404, "Not found") == {"code": 404, "message": "Not found", "error": None}
