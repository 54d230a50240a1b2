"""No request reaches a 500: arbitrary bytes, headers, nesting and unicode at each example route.

Hypothesis builds raw HTTP/1.1 requests (any method, path parameter, query, header values, content
type and body: binary, JSON with any unicode, bodies shaped like the services' own, arrays nested
thousands deep) and sends them over a plain socket to the three example services on loopback,
backed by a PostgreSQL database made for this module. Every answer must be a success or a 4xx, in
the envelope. The run is derandomised, so it sends the same requests every time; set
FUZZ_EXAMPLES to send more.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from urllib.parse import quote

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.cities.server import create_app as create_cities
from examples.roles.server import create_app as create_roles
from examples.schema import create_tables
from examples.users.server import create_app as create_users
from sanic_ms.postgres import create_database, drop_database
from sanic_ms.serve import free_port, serve

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))  # per service
ROUTES = {
    "users": ["/users", "/users/{id}"],
    "cities": ["/cities", "/cities/{id}"],
    "roles": ["/roles", "/roles/{id}"],
}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]
# Headers that frame the request are ours to set: a fuzzed Content-Length would only make the
# server wait for bytes that never come.
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"}


@pytest.fixture(scope="module")
def services():
    """The three examples serving on loopback from a thread of their own; yields their ports."""

    async def make_database():
        dsn = await create_database("test_request_fuzz")
        conn = await asyncpg.connect(dsn)
        try:
            await create_tables(conn)
            await conn.execute("INSERT INTO cities (name) VALUES ('Lisbon')")
            await conn.execute("INSERT INTO roles (name) VALUES ('admin')")
            await conn.execute(
                "INSERT INTO users (name, age, city_id, role_id) VALUES ('Ada', 36, 1, 1)"
            )
        finally:
            await conn.close()
        return dsn

    dsn = asyncio.run(make_database())
    ports = {name: free_port() for name in ROUTES}
    base = {"DATABASE_URL": dsn, "DB_MIN_SIZE": 1, "LOG_LEVEL": "CRITICAL"}
    downstream = {name: f"http://127.0.0.1:{ports[name]}" for name in ("cities", "roles")}
    ready, failed = threading.Event(), []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run():
        try:
            async with (
                serve(create_cities(base), port=ports["cities"]),
                serve(create_roles(base), port=ports["roles"]),
                serve(create_users({**base, "SERVICES": downstream}), port=ports["users"]),
            ):
                ready.set()
                await stop.wait()
        except BaseException as exc:
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    ready.wait(30)
    if failed:
        raise failed[0]
    try:
        yield ports
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
        asyncio.run(drop_database(dsn))


def send(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send one request as bytes; the status and body of the answer (the server then closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(raw)
        received = []
        while chunk := sock.recv(65536):
            received.append(chunk)
    head, _, body = b"".join(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), f"no HTTP answer to {raw[:300]!r}: {head[:300]!r}"
    return int(head.split(b" ", 2)[1]), body


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Text of every kind: any code point, lone surrogates included (JSON can escape them).
text = st.text(st.characters(codec=None), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(
    scalars,
    json_values,
    st.integers(1, 3000).map(lambda depth: json.loads(nested(min(depth, 900)))),
)
record_like = st.dictionaries(
    st.sampled_from(["name", "age", "sex", "city_id", "role_id", "id", "create_time", "extra"]),
    field_values,
    max_size=6,
)


def encode(value, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=2000),
    st.builds(encode, json_values, st.booleans()),
    st.builds(encode, record_like, st.booleans()),
    # Nesting deeper than JSON_MAX_DEPTH, orjson's 1024 levels and Python's recursion limit.
    st.integers(1, 5000).map(lambda depth: nested(depth).encode()),
    st.integers(1, 5000).map(lambda depth: f'{{"name": "a", "age": {nested(depth)}}}'.encode()),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ]
    ),
    text,
    st.none(),
)
header_names = st.one_of(
    st.sampled_from(
        ["accept", "origin", "authorization", "x-b3-traceid", "x-b3-spanid", "b3", "cookie"]
    ),
    st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}", fullmatch=True),
).filter(lambda name: name.lower() not in FRAMING | {"content-type"})
header_values = st.one_of(text, st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
path_ids = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    text.map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="")),
    st.just("1"),
)
queries = st.lists(st.tuples(st.sampled_from(["page", "size", "q"]) | text, text), max_size=4)


@st.composite
def requests(draw, service: str) -> bytes:
    """One HTTP/1.1 request to a route of ``service``, as the bytes on the wire."""
    method = draw(st.sampled_from(METHODS))
    path = draw(st.sampled_from(ROUTES[service])).replace("{id}", draw(path_ids))
    query = "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'), safe='')}="
        f"{quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in draw(queries)
    )
    target = path + ("?" + query if query else "")
    body = draw(bodies) if method in {"POST", "PUT", "PATCH"} else b""
    lines = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1", "connection: close"]
    content_type = draw(content_types)
    if content_type is not None:
        lines.append(f"content-type: {content_type}")
    for name, value in draw(st.lists(st.tuples(header_names, header_values), max_size=4)):
        lines.append(f"{name}: {value}")
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"content-length: {len(body)}")
    # CR and LF would end a header early, and a stray line would be a second request.
    head = "\r\n".join(line.replace("\r", " ").replace("\n", " ") for line in lines)
    return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body


def check_answer(request: bytes, status: int, body: bytes) -> None:
    assert status < 500, f"{status} for {request[:500]!r}: {body[:500]!r}"
    if status == 204:  # a CORS preflight
        return
    envelope = orjson.loads(body)
    if status < 400:
        assert envelope["code"] == 0, body[:500]
    else:
        assert isinstance(envelope["message"], str) and envelope["code"] != 0, body[:500]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", list(ROUTES))
def test_no_request_gets_a_server_error(services, service):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests(service))
    def probe(request: bytes) -> None:
        check_answer(request, *send(services[service], request))

    probe()
