"""Lab 02: the envelope, body parsing, error answers and CORS of labs/02, over real HTTP."""

from __future__ import annotations

import logging
import re

import pytest
from sanic.response import text

from sanic_ms import create_app, errors

GOOD, EVIL = "http://good.example", "http://evil.example"


@pytest.fixture
async def served(student, database_url, serve):
    """A reference app with the student's responses.py and middleware.py plugged in."""
    student.plug("responses.py")
    student.plug("middleware.py")
    app = create_app("lab02", {"DATABASE_URL": database_url, "CORS_ORIGINS": GOOD})

    @app.get("/user")
    async def user(request):
        return {"id": 7, "name": "ada"}

    @app.get("/users")
    async def users(request):
        return [{"id": 1}, {"id": 2}], {"page": 1, "size": 2, "total": 5, "pages": 3}

    @app.get("/ping")
    async def ping(request):
        return text("pong", status=202)

    @app.get("/nothing")
    async def nothing(request):
        return None

    @app.post("/echo")
    async def echo(request):
        return {"got": request.ctx.data}

    @app.get("/users/404")
    async def missing(request):
        raise errors.NotFound("user 404 not found", {"id": 404}, code=40401)

    @app.get("/crash")
    async def crash(request):
        raise RuntimeError("password=hunter2 leaked in a traceback")

    async with serve(app) as served:
        yield served


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
async def test_plain_data_is_wrapped_in_the_envelope(served):
    reply = await served.get("/user")
    assert reply.status == 200 and reply.body == {"code": 0, "data": {"id": 7, "name": "ada"}}, (
        'a handler returning {"id": 7, "name": "ada"} should answer 200 with '
        f'{{"code": 0, "data": {{"id": 7, "name": "ada"}}}}; got {reply}'
    )
    nothing = await served.get("/nothing")
    assert nothing.body == {"code": 0, "data": None}, (
        f'a handler returning None should answer {{"code": 0, "data": null}}; got {nothing}'
    )


@pytest.mark.task(1)
async def test_rows_and_pagination_tuple_adds_pagination(served):
    reply = await served.get("/users")
    assert reply.body == {
        "code": 0,
        "data": [{"id": 1}, {"id": 2}],
        "pagination": {"page": 1, "size": 2, "total": 5, "pages": 3},
    }, f"a handler returning (rows, pagination) should put both in the envelope; got {reply}"


@pytest.mark.task(1)
async def test_a_sanic_response_passes_through_untouched(served):
    reply = await served.get("/ping")
    assert (reply.status, reply.body) == (202, "pong"), (
        f'a handler returning text("pong", status=202) should answer exactly that; got {reply}'
    )


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
async def test_json_body_is_parsed_into_request_ctx_data(served):
    reply = await served.post("/echo", json={"name": "ada", "age": 36})
    assert reply.body == {"code": 0, "data": {"got": {"name": "ada", "age": 36}}}, (
        f"POST /echo should see the JSON body in request.ctx.data; got {reply}"
    )
    empty = await served.post("/echo")
    assert empty.body == {"code": 0, "data": {"got": None}}, (
        f"a POST without a body should give request.ctx.data = None; got {empty}"
    )


@pytest.mark.task(2)
def test_parse_body_of_an_empty_body_is_none(student):
    # The framework's wrapper skips empty bodies before calling parse_body; parse_body itself
    # still promises None for one (other callers, and the docstring, rely on it).
    middleware = student.load("middleware.py")

    class Empty:
        body = b""
        headers = {"content-type": "application/json"}

    try:
        parsed = middleware.parse_body(Empty())
    except Exception as exc:
        pytest.fail(f"parse_body of an empty body should return None, not raise {exc!r}")
    assert parsed is None, f"parse_body of an empty body should return None; got {parsed!r}"


@pytest.mark.task(2)
async def test_invalid_json_is_a_400_in_the_error_envelope(served):
    reply = await served.post("/echo", data=b"{not json", headers={"content-type": "application/json"})
    assert reply.status == 400, f"a body that is not JSON should answer 400 Bad Request; got {reply}"
    assert isinstance(reply.body, dict) and reply.body.get("code") == 400, (
        f"the 400 should be an error envelope with code 400; got {reply}"
    )


# ---------------------------------------------------------------------------------------- task 3


@pytest.mark.task(3)
async def test_service_errors_keep_their_status_code_message_and_detail(served):
    reply = await served.get("/users/404")
    assert reply.status == 404 and reply.body == {
        "code": 40401,
        "message": "user 404 not found",
        "error": {"id": 404},
    }, (
        'NotFound("user 404 not found", {"id": 404}, code=40401) should answer 404 with '
        f'{{"code": 40401, "message": "user 404 not found", "error": {{"id": 404}}}}; got {reply}'
    )


@pytest.mark.task(3)
async def test_unknown_route_is_a_404_envelope(served):
    reply = await served.get("/no/such/route")
    assert reply.status == 404, f"an unknown route should answer 404; got {reply}"
    assert isinstance(reply.body, dict) and reply.body.get("code") == 404, (
        f'an unknown route should answer the error envelope {{"code": 404, ...}}; got {reply}'
    )


@pytest.mark.task(3)
async def test_a_crash_is_a_500_that_reveals_nothing_and_is_logged(served, caplog):
    with caplog.at_level(logging.ERROR, logger="sanic_ms"):
        reply = await served.get("/crash")
    assert reply.status == 500, f"an unexpected exception should answer 500; got {reply}"
    assert isinstance(reply.body, dict) and reply.body.get("code") == 500, (
        f"the 500 should be an error envelope with code 500; got {reply}"
    )
    assert "hunter2" not in str(reply.body), (
        f"the 500 answer must not contain the exception's text (it may hold secrets); got {reply}"
    )
    assert any(record.exc_info for record in caplog.records), (
        "the unexpected exception should be logged with its traceback (log.error(..., "
        "exc_info=exception)) so someone can fix it"
    )
    error = reply.body.get("error")
    error_id = error.get("id") if isinstance(error, dict) else None
    assert isinstance(error_id, str) and re.fullmatch(r"[0-9a-f]{32}", error_id), (
        'the 500 should carry a fresh error id, {"error": {"id": uuid.uuid4().hex}}, so a user '
        f"can report it; got {reply.body!r}"
    )
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert error_id in logged, (
        f"the log line of the crash should name the same error id the client got ({error_id}), "
        f"so the two can be matched; the log said: {logged!r}"
    )


@pytest.mark.task(3)
async def test_a_wrong_method_is_a_405_envelope(served):
    reply = await served.post("/user")
    assert reply.status == 405, f"POST to a GET-only route should answer 405; got {reply}"
    assert isinstance(reply.body, dict) and reply.body.get("code") == 405, (
        'a wrong method should answer the error envelope {"code": 405, "message": ...}; '
        f"got {reply}"
    )


# ---------------------------------------------------------------------------------------- task 4


def preflight(origin):
    return {"origin": origin, "access-control-request-method": "POST"}


@pytest.mark.task(4)
async def test_preflight_from_a_listed_origin_is_allowed(served):
    reply = await served.request("OPTIONS", "/echo", headers=preflight(GOOD))
    assert reply.headers.get("access-control-allow-origin") == GOOD, (
        f"CORS_ORIGINS is {GOOD}: a preflight from it should get "
        f"access-control-allow-origin: {GOOD}; got headers {dict(reply.headers)}"
    )


@pytest.mark.task(4)
async def test_an_unlisted_origin_gets_no_cors_headers(served):
    reply = await served.request("OPTIONS", "/echo", headers=preflight(EVIL))
    assert reply.status == 204, f"a preflight (OPTIONS) should answer 204 No Content; got {reply}"
    assert "access-control-allow-origin" not in reply.headers, (
        f"{EVIL} is not in CORS_ORIGINS: it must get no access-control-allow-origin header; "
        f"got {reply.headers.get('access-control-allow-origin')!r}"
    )


async def allowed_origin(student, database_url, serve, cors_origins, origin):
    """The access-control-allow-origin (and vary) a preflight from ``origin`` gets."""
    student.plug("responses.py")
    student.plug("middleware.py")
    app = create_app("lab02-cors", {"DATABASE_URL": database_url, "CORS_ORIGINS": cors_origins})

    @app.post("/echo")
    async def echo(request):
        return {"got": request.ctx.data}

    async with serve(app) as served:
        reply = await served.request("OPTIONS", "/echo", headers=preflight(origin))
    return reply.headers.get("access-control-allow-origin"), reply.headers.get("vary", "")


@pytest.mark.task(4)
async def test_cors_origins_is_a_comma_separated_list_of_exact_origins(
    student, database_url, serve
):
    listed = f"http://other.example , {GOOD}"
    got, vary = await allowed_origin(student, database_url, serve, listed, GOOD)
    assert got == GOOD, (
        f"CORS_ORIGINS is {listed!r}: split it on commas and strip the spaces, so {GOOD} is "
        f"listed; a preflight from it got access-control-allow-origin {got!r}"
    )
    assert "origin" in vary.lower(), (
        "an answer that depends on the Origin header must say so with `Vary: Origin` (else a "
        f"cache hands one origin's answer to another); got vary {vary!r}"
    )
    prefix = GOOD[:-3]
    got, _ = await allowed_origin(student, database_url, serve, GOOD, prefix)
    assert got is None, (
        f"{prefix} is not {GOOD}: an origin must equal a listed one (no substring match); "
        f"it got access-control-allow-origin {got!r}"
    )


@pytest.mark.task(4)
async def test_cors_star_allows_every_origin(student, database_url, serve):
    got, _ = await allowed_origin(student, database_url, serve, "*", EVIL)
    assert got == "*", (
        'CORS_ORIGINS "*" allows any origin: the preflight should get '
        f"access-control-allow-origin: *; got {got!r}"
    )
