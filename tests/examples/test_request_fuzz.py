"""No request reaches a 500: arbitrary bytes, headers, nesting and unicode at each example route.

Hypothesis builds raw HTTP/1.1 requests (any method, path parameter, query, header values, content
type and body: binary, JSON with any unicode, bodies shaped like the services' own, arrays nested
thousands deep) and sends them over a plain socket to the three example services on loopback,
backed by a PostgreSQL database made for this module. Every answer must be a success or a 4xx, in
the envelope. The run is derandomised, so it sends the same requests every time; set
FUZZ_EXAMPLES to send more.

The services run in a process of their own: Hypothesis raises the interpreter's recursion limit
while it runs, which would hide a RecursionError from servers sharing its process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sanic_ms.serve import free_port
from tests.examples.support import example_database

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))  # per service
# Each service's operations (its OpenAPI document lists the same); any other method is tried too.
OPERATIONS = [("GET", "/{s}"), ("POST", "/{s}"), ("GET", "/{s}/{id}"), ("PUT", "/{s}/{id}")]
OPERATIONS += [("DELETE", "/{s}/{id}")]
SERVICES = ["users", "cities", "roles"]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"]
# Headers that frame the request are ours to set: a fuzzed Content-Length would only make the
# server wait for bytes that never come.
FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"}


@pytest.fixture(scope="module")
def services():
    """The three examples serving on loopback from a thread of their own; yields their ports."""
    with example_database("test_request_fuzz") as dsn:
        ports = {name: free_port() for name in SERVICES}
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, dsn, json.dumps(ports)], stdin=subprocess.PIPE
        )
        try:
            wait_for(ports, server)
            yield ports
        finally:
            server.stdin.close()  # the servers stop when their stdin closes
            server.wait(30)


SERVE = textwrap.dedent(
    """
    import asyncio, json, sys
    from examples.cities.server import create_app as cities
    from examples.roles.server import create_app as roles
    from examples.users.server import create_app as users
    from sanic_ms.serve import serve

    async def main(dsn, ports):
        base = {"DATABASE_URL": dsn, "DB_MIN_SIZE": 1, "LOG_LEVEL": "CRITICAL"}
        down = {name: f"http://127.0.0.1:{ports[name]}" for name in ("cities", "roles")}
        async with (
            serve(cities(base), port=ports["cities"]),
            serve(roles(base), port=ports["roles"]),
            serve(users({**base, "SERVICES": down}), port=ports["users"]),
        ):
            await asyncio.to_thread(sys.stdin.read)

    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    """
)


def wait_for(ports: dict[str, int], server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    for port in ports.values():
        while True:
            assert server.poll() is None, "the example services did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nothing listens on port {port}"
                time.sleep(0.1)


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
# Around the limits: JSON_MAX_DEPTH (32), orjson's 1024 levels, Python's recursion limit.
depths = st.sampled_from([1, 32, 33, 500, 990, 1023, 1024, 3000]) | st.integers(1, 5000)
field_values = st.one_of(
    scalars,
    json_values,
    depths.map(lambda depth: json.loads(nested(min(depth, 1000)))),
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
    depths.map(lambda depth: nested(depth).encode()),
    depths.map(lambda depth: f'{{"name": "a", "age": {nested(depth)}}}'.encode()),
)
content_types = st.one_of(
    st.just("application/json"),
    st.sampled_from(
        [
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
    method, path = draw(st.sampled_from(OPERATIONS))
    if draw(st.integers(0, 4)) == 0:  # now and then, a method the route does not have
        method = draw(st.sampled_from(METHODS))
    path = path.format(s=service, id=draw(path_ids))
    query = "&".join(
        f"{quote(k.encode('utf-8', 'surrogatepass'), safe='')}="
        f"{quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
        for k, v in draw(queries)
    )
    target = path + ("?" + query if query else "")
    body = draw(bodies) if method in {"POST", "PUT", "PATCH"} else b""
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=3))
    return wire(method, target, body, draw(content_types), headers)


def wire(method: str, target: str, body=b"", content_type="application/json", headers=()) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1", "connection: close"]
    if content_type is not None:
        lines.append(f"content-type: {content_type}")
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"content-length: {len(body)}")
    # CR and LF would end a header early, and a stray line would be a second request.
    head = "\r\n".join(line.replace("\r", " ").replace("\n", " ") for line in lines)
    return head.encode("utf-8", "surrogatepass") + b"\r\n\r\n" + body


def known_cases(service: str) -> list[bytes]:
    """Requests that once answered 500 or the wrong status: sent first, every run."""
    cases = []
    for depth in (33, 990, 1000, 1023, 1024, 5000):  # RecursionError at 950..1023 levels
        deep = nested(depth)
        cases.append(wire("POST", f"/{service}", f'{{"name": "a", "age": {deep}}}'.encode()))
        cases.append(wire("PUT", f"/{service}/1", f'{{"name": {deep}}}'.encode()))
    cases.append(wire("TRACE", f"/{service}/1"))
    return cases


def check_answer(request: bytes, status: int, body: bytes) -> None:
    assert status < 500, f"{status} for {request[:300]!r}...: {body[:300]!r}"
    if status == 204:  # a CORS preflight
        return
    envelope = orjson.loads(body)
    if status < 400:
        assert envelope["code"] == 0, body[:500]
    else:
        assert isinstance(envelope["message"], str) and envelope["code"] != 0, body[:500]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", SERVICES)
def test_no_request_gets_a_server_error(services, service):
    @given(request=requests(service))
    def probe(request: bytes) -> None:
        check_answer(request, *send(services[service], request))

    for case in known_cases(service):
        probe = example(request=case)(probe)
    settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(probe)()
