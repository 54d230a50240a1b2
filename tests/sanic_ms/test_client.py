"""Downstream calls against real local servers that answer, fail, refuse or stall."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sanic import Sanic
from sanic.response import html, raw
from sanic.response import json as sanic_json

from sanic_ms import create_app, errors
from sanic_ms.client import Client, Clients, session_factory_of, use_session_factory
from sanic_ms.serve import free_port, serve
from sanic_ms.testing import MockServices


@pytest.fixture
async def downstream():
    """A plain Sanic app standing in for another team's service; counts its TCP connections."""
    app = Sanic("downstream")
    app.ctx.peers = set()

    @app.on_request
    async def remember_peer(request):
        request.app.ctx.peers.add(request.conn_info.client_port)

    @app.get("/cities/<id:int>")
    async def city(request, id):
        if id == 404:
            return sanic_json(
                {"code": 404, "message": "city 404 not found", "error": None}, status=404
            )
        if id == 500:
            return sanic_json(
                {"code": 500, "message": "Internal server error", "error": None}, status=500
            )
        return sanic_json({"code": 0, "data": {"id": id, "name": "Lisbon"}})

    @app.post("/echo")
    async def echo(request):
        return sanic_json({"code": 0, "data": {"json": request.json, "q": dict(request.args)}})

    @app.get("/plain")
    async def plain(request):
        return sanic_json([1, 2, 3])

    async with serve(app) as url:
        yield app, url


async def test_get_returns_the_data_of_an_envelope(downstream):
    _, url = downstream
    client = await Client("cities", url).start()
    try:
        assert await client.get("/cities/7") == {"id": 7, "name": "Lisbon"}
        assert (await client.get("/cities/7", envelope=True))["code"] == 0
        assert await client.get("/plain") == [1, 2, 3]
        echoed = await client.post("/echo", json={"a": 1}, params={"q": "x"})
        assert echoed == {"json": {"a": 1}, "q": {"q": ["x"]}}
    finally:
        await client.close()


async def test_calls_reuse_one_keep_alive_connection(downstream):
    app, url = downstream
    client = await Client("cities", url).start()
    try:
        for _ in range(5):
            await client.get("/cities/1")
    finally:
        await client.close()
    assert len(app.ctx.peers) == 1


async def failed_get(url, path, expected=errors.ServiceError, service="cities", **kwargs):
    """What ``Client(service, url, **kwargs).get(path)`` raises: an ``expected``, or the test fails."""
    client = await Client(service, url, **kwargs).start()
    try:
        with pytest.raises(expected) as caught:
            await client.get(path)
    finally:
        await client.close()
    return caught.value


async def test_downstream_4xx_keeps_its_status_and_message(downstream):
    _, url = downstream
    error = await failed_get(url, "/cities/404", errors.DownstreamError)
    assert error.status_code == 404
    assert error.message == "cities answered 404: city 404 not found"
    assert error.error == {
        "service": "cities",
        "status": 404,
        "message": "city 404 not found",
    }  # no URL: an internal address is for the log only


async def test_downstream_5xx_is_a_502_naming_the_service(downstream):
    _, url = downstream
    error = await failed_get(url, "/cities/500", errors.BadGateway)
    assert error.status_code == 502 and "cities failed with 500" in error.message


async def test_refused_connection_is_a_502():
    url = f"http://127.0.0.1:{free_port()}"
    error = await failed_get(url, "/roles/1", errors.BadGateway, service="roles")
    assert error.error["service"] == "roles"
    assert "ClientConnectorError" in error.error["reason"]
    assert "127.0.0.1" not in str(error.to_dict())  # the address goes to the log only


async def test_a_stalled_service_is_a_504_after_the_timeout():
    writers = []

    async def accept_and_stall(reader, writer):
        writers.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(accept_and_stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await Client("roles", f"http://127.0.0.1:{port}", timeout=0.3).start()
    try:
        with pytest.raises(errors.GatewayTimeout) as caught:
            await client.get("/roles/1")
    finally:
        await client.close()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
    assert caught.value.status_code == 504 and "0.3 s" in caught.value.message


def test_clients_by_name_and_attribute():
    cities = Client("cities", "http://x")
    clients = Clients({"cities": cities})
    assert clients.cities is cities and clients["cities"] is cities
    with pytest.raises(AttributeError, match=r"no downstream service named 'roles'.*SERVICES"):
        _ = clients.roles


# -- a downstream that answers 200 with what it should not --------------------------------------

MB = 1_000_000


@pytest.fixture
async def misbehaving():
    """A downstream answering 200 with cut JSON, an HTML page, an error envelope or 50 MB."""
    app = Sanic("misbehaving")
    app.ctx.streamed, app.ctx.stream_done = 0, asyncio.Event()

    @app.get("/truncated")
    async def truncated(request):
        return raw(b'{"code": 0, "data": {"id": 7, "na', content_type="application/json")

    @app.get("/html")
    async def page(request):
        return html("<html><body><h1>Welcome to nginx!</h1></body></html>")

    @app.get("/error-with-200")
    async def error_with_200(request):
        return sanic_json({"code": 40401, "message": "city 7 not found", "error": None})

    @app.get("/declared-2mb")
    async def declared(request):
        return raw(b"[" + b"0," * MB + b"0]", content_type="application/json")

    @app.get("/streamed-50mb")
    async def streamed(request):
        response = await request.respond(content_type="application/json")
        chunk = b" " * 65_536
        try:
            while app.ctx.streamed < 50 * MB and not request.transport.is_closing():
                await response.send(chunk)
                app.ctx.streamed += len(chunk)
        finally:
            app.ctx.stream_done.set()

    async with serve(app) as url:
        yield app, url


@pytest.mark.parametrize("path", ["/truncated", "/html"])
async def test_a_2xx_body_that_is_not_json_is_a_502_naming_the_service(misbehaving, path):
    _, url = misbehaving
    error = await failed_get(url, path)
    assert error.status_code == 502
    assert error.message == "cities answered 200 with a body that is not JSON"
    assert error.error["service"] == "cities" and error.error["status"] == 200


async def test_an_error_envelope_sent_with_200_is_a_502(misbehaving):
    _, url = misbehaving
    error = await failed_get(url, "/error-with-200")
    assert error.status_code == 502
    assert error.message == "cities answered 200 with an error: city 7 not found"
    assert error.error == {
        "service": "cities",
        "status": 200,
        "code": 40401,
        "message": "city 7 not found",
    }


async def test_a_body_over_the_size_limit_is_a_502_and_is_not_read_whole(misbehaving):
    app, url = misbehaving
    error = await failed_get(url, "/declared-2mb", max_size=MB)
    assert error.status_code == 502
    assert error.message == f"cities answered more than {MB} bytes (CLIENT_MAX_SIZE)"
    # Without a Content-Length the client stops reading past the limit and drops the connection.
    error = await failed_get(url, "/streamed-50mb", max_size=MB)
    assert error.status_code == 502 and "CLIENT_MAX_SIZE" in error.message
    await asyncio.wait_for(app.ctx.stream_done.wait(), 10)
    assert app.ctx.streamed < 25 * MB, f"the downstream could send {app.ctx.streamed} bytes"


@pytest.fixture
async def front(misbehaving, database_url):
    """A service of ours calling the misbehaving one as ``cities``, with a 1,000-byte limit."""
    _, downstream = misbehaving
    settings = {"DATABASE_URL": database_url, "DB_MIN_SIZE": 1, "CLIENT_MAX_SIZE": 1000}
    app = create_app("front", {**settings, "SERVICES": {"cities": downstream}})

    @app.get("/city/<name:str>")
    async def city(request, name):
        return await request.app.ctx.clients.cities.get(f"/{name}", request=request)

    async with serve(app) as url, aiohttp.ClientSession() as session:

        async def get(path):
            async with session.get(url + path) as response:
                return response.status, await response.read()

        yield downstream, get


async def test_the_caller_gets_an_envelope_naming_the_service_and_the_log_gets_the_url(
    front, caplog
):
    downstream, get = front
    for path in ("/city/html", "/city/error-with-200", "/city/declared-2mb"):
        status, body = await get(path)
        assert status == 502, body
        assert b'"code":502' in body and b'"service":"cities"' in body
        assert downstream.encode() not in body and b"127.0.0.1" not in body
    assert b"(CLIENT_MAX_SIZE)" in body  # the app's setting, 1,000 bytes here
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "sanic_ms.client")
    assert f"GET {downstream}/html" in logged


async def test_create_app_gives_its_clients_the_session_factory_it_was_given(database_url):
    # The declared seam for fakes: no attribute set behind the app's back.
    mocks = MockServices()
    city = mocks.get("/cities/1", payload={"code": 0, "data": {"id": 1, "name": "Lisbon"}})
    settings = {"DATABASE_URL": database_url, "SERVICES": {"cities": "http://cities:1"}}
    app = create_app("seam", settings, session_factory=mocks.session_factory)
    assert session_factory_of(app) == mocks.session_factory
    async with serve(app):
        assert await app.ctx.clients.cities.get("/cities/1") == {"id": 1, "name": "Lisbon"}
    assert city.call_count == 1


def test_use_session_factory_sets_the_seam_of_an_app_built_without_one(database_url):
    app = create_app("no-seam", {"DATABASE_URL": database_url})
    assert session_factory_of(app) is None
    use_session_factory(app, MockServices().session_factory)
    assert session_factory_of(app) is not None
