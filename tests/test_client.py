"""Downstream calls against real local servers that answer, fail, refuse or stall."""

from __future__ import annotations

import asyncio

import pytest
from sanic import Sanic
from sanic.response import json as sanic_json

from sanic_ms import errors
from sanic_ms.client import Client, Clients
from sanic_ms.serve import free_port, serve


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


async def test_downstream_4xx_keeps_its_status_and_message(downstream):
    _, url = downstream
    client = await Client("cities", url).start()
    try:
        with pytest.raises(errors.DownstreamError) as caught:
            await client.get("/cities/404")
    finally:
        await client.close()
    assert caught.value.status_code == 404
    assert caught.value.message == "cities answered 404: city 404 not found"
    assert caught.value.error == {
        "service": "cities",
        "status": 404,
        "message": "city 404 not found",
    }  # no URL: an internal address is for the log only


async def test_downstream_5xx_is_a_502_naming_the_service(downstream):
    _, url = downstream
    client = await Client("cities", url).start()
    try:
        with pytest.raises(errors.BadGateway) as caught:
            await client.get("/cities/500")
    finally:
        await client.close()
    assert caught.value.status_code == 502 and "cities failed with 500" in caught.value.message


async def test_refused_connection_is_a_502():
    client = await Client("roles", f"http://127.0.0.1:{free_port()}").start()
    try:
        with pytest.raises(errors.BadGateway) as caught:
            await client.get("/roles/1")
    finally:
        await client.close()
    assert caught.value.error["service"] == "roles"
    assert "ClientConnectorError" in caught.value.error["reason"]


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
