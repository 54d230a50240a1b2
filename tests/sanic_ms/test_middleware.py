"""The envelope, body parsing, CORS and the uniform error answers, over real HTTP."""

from __future__ import annotations

import io
import logging

import aiohttp
import pytest
from sanic.response import text

from examples.users.server import create_app as create_users
from sanic_ms import create_app, errors, middleware
from sanic_ms.serve import serve

JSON = {"content-type": "application/json"}


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

    @app.get("/items/<id:int>")
    async def item(request, id):
        return {"id": id}

    @app.delete("/items/<id:int>")
    async def delete_item(request, id):
        return {"id": id}

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
    assert await json_of(call, "POST", "/echo", data=b'{"a": [1, 2]}', headers=JSON) == (
        200,
        {"code": 0, "data": {"got": {"a": [1, 2]}}},
    )


async def test_invalid_json_is_a_400_saying_why(call):
    status, body = await json_of(call, "POST", "/echo", data=b"{not json", headers=JSON)
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


async def test_wrong_method_names_the_allowed_ones_on_static_and_dynamic_routes(call):
    status, headers, _ = await call("TRACE", "/plain")
    assert (status, headers.get("allow")) == (405, "GET")
    # Sanic's router gives no Allow when a path with a parameter has a handler per method.
    status, headers, raw = await call("TRACE", "/items/7")
    assert (status, headers.get("allow")) == (405, "DELETE, GET")
    assert b'"code":405' in raw


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_a_body_needs_a_json_content_type(call):
    body = b'{"a": 1}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, reply = await json_of(
            call, "POST", "/echo", data=body, headers={"content-type": content_type}
        )
        assert status == 415 and reply["code"] == 415, reply
        assert reply["message"] == f"Request body must be JSON, not {content_type}"
    status, reply = await json_of(
        call, "POST", "/echo", data=body, skip_auto_headers=["Content-Type"]
    )
    assert status == 415 and "no declared type" in reply["message"]
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        status, reply = await json_of(
            call, "POST", "/echo", data=body, headers={"content-type": content_type}
        )
        assert (status, reply["data"]) == (200, {"got": {"a": 1}}), content_type


async def test_nesting_past_json_max_depth_is_a_400_naming_the_limit(call):
    limit = 32  # the JSON_MAX_DEPTH default
    status, reply = await json_of(call, "POST", "/echo", data=nested(limit), headers=JSON)
    assert status == 200
    # Past the limit, and past orjson's own 1024 levels: the same answer, naming the setting.
    for depth in (limit + 1, 1000, 5000):
        status, reply = await json_of(call, "POST", "/echo", data=nested(depth), headers=JSON)
        assert status == 400, (depth, reply)
        assert "JSON_MAX_DEPTH" in reply["message"] and reply["error"] == {"limit": limit}
    # Brackets inside strings are text, not nesting.
    text = b'{"a": "' + b"[" * 100 + b'"}'
    assert (await json_of(call, "POST", "/echo", data=text, headers=JSON))[0] == 200


async def test_the_depth_limit_is_a_setting(database_url):
    app = make_app(database_url, JSON_MAX_DEPTH=3)
    async with serve(app) as url, aiohttp.ClientSession() as session:
        async with session.post(url + "/echo", data=nested(4), headers=JSON) as response:
            reply = await response.json()
    assert response.status == 400 and "deeper than 3 levels" in reply["message"]


@pytest.fixture
async def users(example_tables):
    """The example users service: its POST /users declares a body that the pipeline validates."""
    app = create_users({"DATABASE_URL": example_tables, "DB_MIN_SIZE": 1})
    async with serve(app) as url, aiohttp.ClientSession() as session:

        async def request(method, path, **kwargs):
            async with session.request(method, url + path, **kwargs) as response:
                return response.status, response.headers, await response.json()

        yield request


async def test_sanic_s_own_errors_win_over_request_validation(users):
    # 413: the body never arrived whole, so validation must not report it missing.
    big = b'{"name": "' + b"x" * 1_100_000 + b'", "age": 1}'
    status, _, reply = await users("POST", "/users", data=io.BytesIO(big), headers=JSON)
    assert (status, reply["code"]) == (413, 413), reply
    assert reply["message"] == "Request body too large (limit: REQUEST_MAX_SIZE)"
    # 414 and 431: Sanic raises one error for any over-long head; each gets its own words.
    status, _, reply = await users("GET", "/users?q=" + "x" * 20_000)
    assert (status, reply["code"]) == (414, 414), reply
    assert reply["message"].startswith("URI too long")
    status, _, reply = await users("GET", "/users", headers={"x-big": "x" * 20_000})
    assert (status, reply["code"]) == (431, 431), reply
    assert reply["message"].startswith("Request header fields too large")
    # 405 on /users/<id>, with the methods it has.
    status, headers, reply = await users("TRACE", "/users/1")
    assert (status, reply["code"], headers.get("allow")) == (405, 405, "DELETE, GET, PUT")


async def test_a_validated_body_is_parsed_once_and_checked_in_order(users, monkeypatch):
    calls = []
    parse = middleware.parse_body

    def counting(request):
        calls.append(request.path)
        return parse(request)

    monkeypatch.setattr(middleware, "parse_body", counting)
    status, _, reply = await users("POST", "/users", data=b'{"name": 1}', headers=JSON)
    assert status == 400 and set(reply["error"]) >= {"name", "age"}
    assert calls == ["/users"]  # once, though both the validator and the handler read it
    # The content type is checked before the JSON, the JSON before the declared fields.
    status, _, reply = await users(
        "POST", "/users", data=b"{oops", headers={"content-type": "text/plain"}
    )
    assert status == 415
    status, _, reply = await users("POST", "/users", data=b"{oops", headers=JSON)
    assert (status, reply["message"]) == (400, "Request body is not valid JSON")
    deep = b'{"name": "Ada", "age": ' + nested(1000) + b"}"
    status, _, reply = await users("POST", "/users", data=deep, headers=JSON)
    assert status == 400 and "JSON_MAX_DEPTH" in reply["message"]


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
