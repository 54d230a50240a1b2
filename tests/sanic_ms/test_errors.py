"""The error family: each class answers with its status and the error envelope, over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest

from sanic_ms import create_app, errors
from sanic_ms.serve import serve

FAMILY = sorted(errors.BY_STATUS.values(), key=lambda cls: cls.status_code)


def raising_app(database_url):
    app = create_app("errors_http", {"DATABASE_URL": database_url, "DB_MIN_SIZE": 1})

    @app.get("/raise/<status:int>")
    async def raise_default(request, status):
        raise errors.BY_STATUS[status]()

    @app.get("/custom")
    async def custom(request):
        raise errors.NotFound("user 7 not found", {"id": 7}, code=40401)

    @app.get("/teapot")
    async def teapot(request):
        raise errors.ServiceError("short and stout", status=418)

    @app.get("/downstream/<status:int>")
    async def downstream(request, status):
        message = request.args.get("message")
        raise errors.DownstreamError("cities", status, message, {"upstream": "cities"})

    return app


@pytest.fixture
async def get(database_url):
    async with serve(raising_app(database_url)) as url, aiohttp.ClientSession() as session:

        async def request(path):
            async with session.get(url + path) as response:
                assert response.content_type == "application/json", path
                return response.status, await response.json()

        yield request


async def test_every_error_class_answers_its_status_code_and_default_message(get):
    for cls in FAMILY:
        status, body = await get(f"/raise/{cls.status_code}")
        assert status == cls.status_code, cls.__name__
        assert body == {"code": cls.status_code, "message": cls.message, "error": None}, cls


async def test_a_finer_code_message_and_detail_reach_the_client(get):
    status, body = await get("/custom")
    assert status == 404
    assert body == {"code": 40401, "message": "user 7 not found", "error": {"id": 7}}


async def test_the_base_class_takes_any_status(get):
    assert await get("/teapot") == (418, {"code": 418, "message": "short and stout", "error": None})


async def test_a_downstream_error_keeps_the_downstream_status_and_names_the_service(get):
    status, body = await get("/downstream/409?message=taken")
    assert status == 409
    assert body == {
        "code": 409,
        "message": "cities answered 409: taken",
        "error": {"upstream": "cities"},
    }
    status, body = await get("/downstream/503")
    assert (status, body["message"]) == (503, "cities answered 503: no message")


def test_each_status_has_one_class_and_every_class_its_own_status():
    assert all(cls.status_code == status for status, cls in errors.BY_STATUS.items())
    assert errors.BY_STATUS[409] is errors.Conflict
    assert {400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503, 504} <= set(
        errors.BY_STATUS
    )


def test_an_error_is_a_sanic_exception_sanic_need_not_log():
    error = errors.Forbidden()
    assert error.status_code == 403 and error.quiet
    assert str(error) == "Forbidden"
    assert error.to_dict() == {"code": 403, "message": "Forbidden", "error": None}


def test_a_status_override_changes_only_that_instance():
    assert errors.BadRequest(status=400).code == 400
    custom = errors.ServiceError("x", status=418)
    assert (custom.status_code, custom.code) == (418, 418)
    assert errors.ServiceError().status_code == 500
