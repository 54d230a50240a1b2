"""The envelope, body parsing, CORS and the uniform error answers, over real HTTP."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from sanic.response import text

from sanic_ms import create_app, errors
from sanic_ms.serve import serve


def make_app(database_url, **settings):
    app = create_app("envelope", {"DATABASE_URL": database_url, "DB_MIN_SIZE": 1, **settings})

    @app.get("/plain")
    async def plain(request):
        return {"hello": "world"}

    @app.get("/page")
    async def page(request):
        return [{"id": 1}], {"page": 1, "size": 1, "total": 3}

    @app.get("/raw")
    async def raw(request):
        return text("as is", status=201)

    @app.get("/nothing")
    async def nothing(request):
        return None

    @app.post("/echo")
    async def echo(request):
        return {"got": request.ctx.data}

    @app.get("/secret")
    async def secret(request):
        raise RuntimeError("password=hunter2 in a stack trace")

    @app.get("/teapot")
    async def teapot(request):
        raise errors.UnprocessableEntity("age must be positive", {"age": -1}, code=42201)

    return app


@pytest.fixture
async def call(database_url):
    app = make_app(database_url)
    async with serve(app) as url, aiohttp.ClientSession() as session:

        async def request(method, path, **kwargs):
            async with session.request(method, url + path, **kwargs) as response:
                body = await response.read()
                return response.status, response.headers, body

        yield request


async def json_of(call, method, path, **kwargs):
    import json

    status, _, body = await call(method, path, **kwargs)
    return status, json.loads(body)


async def test_plain_data_is_wrapped(call):
    assert await json_of(call, "GET", "/plain") == (200, {"code": 0, "data": {"hello": "world"}})


async def test_a_pair_of_rows_and_pagination_adds_pagination(call):
    _status, body = await json_of(call, "GET", "/page")
    assert body == {
        "code": 0,
        "data": [{"id": 1}],
        "pagination": {"page": 1, "size": 1, "total": 3},
    }


async def test_a_sanic_response_passes_through_untouched(call):
    status, headers, body = await call("GET", "/raw")
    assert (status, body) == (201, b"as is")
    assert headers["content-type"].startswith("text/plain")


async def test_none_is_data_null(call):
    assert await json_of(call, "GET", "/nothing") == (200, {"code": 0, "data": None})


async def test_json_body_is_parsed_into_request_ctx_data(call):
    assert await json_of(call, "POST", "/echo", data=b'{"a": [1, 2]}') == (
        200,
        {"code": 0, "data": {"got": {"a": [1, 2]}}},
    )


async def test_invalid_json_is_a_400_saying_why(call):
    status, body = await json_of(call, "POST", "/echo", data=b"{not json")
    assert status == 400
    assert body["code"] == 400 and body["message"] == "Request body is not valid JSON"
    assert "line 1 column 2" in body["error"]["reason"]


async def test_unknown_route_is_a_404_envelope(call):
    assert await json_of(call, "GET", "/nope") == (
        404,
        {"code": 404, "message": "Not found: /nope", "error": None},
    )


async def test_wrong_method_is_a_405_envelope(call):
    status, body = await json_of(call, "DELETE", "/plain")
    assert status == 405 and body["code"] == 405 and "DELETE" in body["message"]


async def test_oversized_body_is_a_413_envelope(database_url):
    app = make_app(database_url, REQUEST_MAX_SIZE=1000)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.post(url + "/echo", data=b"[" + b"1," * 1000 + b"1]") as response:
            body = await response.json()
    assert response.status == 413
    assert body["code"] == 413 and "REQUEST_MAX_SIZE" in body["message"]


async def test_unexpected_errors_are_500_with_nothing_internal(call, caplog):
    with caplog.at_level(logging.ERROR, logger="sanic_ms"):
        status, _headers, raw = await call("GET", "/secret")
    assert status == 500
    assert b"hunter2" not in raw and b"RuntimeError" not in raw
    import json

    body = json.loads(raw)
    assert body["message"] == "Internal server error"
    # The client gets an id; the log has the same id with the full traceback.
    logged = [r for r in caplog.records if body["error"]["id"] in r.getMessage()]
    assert logged and "hunter2" in logged[0].exc_text


async def test_service_errors_carry_their_code_message_and_detail(call):
    assert await json_of(call, "GET", "/teapot") == (
        422,
        {"code": 42201, "message": "age must be positive", "error": {"age": -1}},
    )


async def test_cors_headers_for_any_origin_and_preflight(call):
    _, headers, _ = await call("GET", "/plain", headers={"Origin": "https://app.example"})
    assert headers["access-control-allow-origin"] == "*"
    status, headers, _ = await call(
        "OPTIONS",
        "/plain",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert status == 204 and "GET" in headers["access-control-allow-methods"]
    _, headers, _ = await call("GET", "/nope", headers={"Origin": "https://app.example"})
    assert headers["access-control-allow-origin"] == "*"  # errors too


async def test_cors_only_for_listed_origins(database_url):
    app = make_app(database_url, CORS_ORIGINS="https://good.example")
    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.get(url + "/plain", headers={"Origin": "https://good.example"}) as good:
            assert good.headers["access-control-allow-origin"] == "https://good.example"
        async with session.get(url + "/plain", headers={"Origin": "https://evil.example"}) as evil:
            assert "access-control-allow-origin" not in evil.headers


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.BadRequest, 400),
        (errors.Unauthorized, 401),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.NotAcceptable, 406),
        (errors.Gone, 410),
        (errors.UnprocessableEntity, 422),
        (errors.TooManyRequests, 429),
        (errors.ServerError, 500),
        (errors.BadGateway, 502),
        (errors.ServiceUnavailable, 503),
        (errors.GatewayTimeout, 504),
    ],
)
def test_error_family_statuses_codes_and_messages(cls, status):
    error = cls()
    assert (error.status_code, error.code) == (status, status)
    assert error.to_dict() == {"code": status, "message": cls.message, "error": None}
    assert cls("custom", {"f": "x"}).to_dict()["message"] == "custom"
