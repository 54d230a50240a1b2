"""``make demo``: the three example services on loopback ports, and a tour of what a user does.

Resolves PostgreSQL (embedded when nothing else is there), creates the tables (by the services' migrations) and a few rows in a
``sanic_ms_demo`` database, serves users, cities and roles on free ports in this process, walks
through a handful of requests printing each one with its envelope, then stops everything.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
import asyncpg

from examples.cities.server import create_app as create_cities
from examples.roles.server import create_app as create_roles
from examples.users.server import create_app as create_users
from grader.postgres import resolve, with_database
from sanic_ms import migrations
from sanic_ms.serve import free_port, serve
from sanic_ms.tracing.collector import Collector, render_tree

DEMO_DB = "sanic_ms_demo"
SERVICES = ["examples.cities", "examples.roles", "examples.users"]


async def prepare_database() -> str:
    """A fresh ``sanic_ms_demo`` database with the tables (by the services' migrations) and a few rows; returns its DSN."""
    admin = resolve().dsn
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DEMO_DB}"')
    finally:
        await conn.close()
    dsn = with_database(admin, DEMO_DB)
    print(
        "\n# tables from the peewee models, then each service's migrations (python -m sanic_ms migrate)"
    )
    print(await asyncio.to_thread(migrations.apply, SERVICES, dsn))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO cities (name) VALUES ($1)", [("Shanghai",), ("Lisbon",)]
        )
        await conn.executemany("INSERT INTO roles (name) VALUES ($1)", [("admin",), ("student",)])
        await conn.execute(
            "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ('Ada', 36, 'f', 2, 1)"
        )
    finally:
        await conn.close()
    return dsn


async def show(
    session: aiohttp.ClientSession, method: str, url: str, why: str, **kwargs: Any
) -> Any:
    print(f"\n# {why}\n> {method} {url}" + (f"  {kwargs['data']!s}" if "data" in kwargs else ""))
    async with session.request(method, url, **kwargs) as response:
        body = await response.json()
    print(f"< {response.status} {json.dumps(body, indent=2, default=str)}")
    return body


async def tour(users: str) -> None:
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession() as s:
        new = {"name": "Grace", "age": 45, "sex": "f", "city_id": 1, "role_id": 2}
        created = await show(
            s,
            "POST",
            f"{users}/users",
            "create a user (one transaction)",
            data=json.dumps(new),
            headers=headers,
        )
        uid = created["data"]["id"]
        await show(
            s,
            "GET",
            f"{users}/users/{uid}",
            "fetch it: city and role come from two services, in parallel",
        )
        await show(
            s, "GET", f"{users}/users?page=1&size=1", "list a page: the (rows, pagination) tuple"
        )
        await show(
            s, "GET", f"{users}/users/9999", "a user that does not exist: 404 in the envelope"
        )
        await show(
            s,
            "POST",
            f"{users}/users",
            "a body that is not JSON: 400, saying why",
            data="{name: oops",
            headers=headers,
        )


async def main() -> None:
    dsn = await prepare_database()
    cities_port, roles_port, users_port = free_port(), free_port(), free_port()
    # Spans go to a small in-process Zipkin collector (sanic_ms.tracing.collector), printed at the end.
    collector = Collector()
    await collector.start()
    base = {"DATABASE_URL": dsn, "LOG_LEVEL": "WARNING", "ZIPKIN_URL": collector.url}
    cities = create_cities(base)
    roles = create_roles(base)
    users = create_users(
        {
            **base,
            "SERVICES": {
                "cities": f"http://127.0.0.1:{cities_port}",
                "roles": f"http://127.0.0.1:{roles_port}",
            },
        }
    )
    async with (
        serve(cities, port=cities_port) as cities_url,
        serve(roles, port=roles_port) as roles_url,
        serve(users, port=users_port) as users_url,
    ):
        print(f"services up: users {users_url}, cities {cities_url}, roles {roles_url}")
        print(
            f"API docs while the tour runs: {users_url}/openapi/ (spec: {users_url}/openapi/spec.json)"
        )
        await tour(users_url)
        trace = await collector.wait_for_trace(
            lambda s: (
                s.get("name") == "get /users/<id:int>"
                and s["tags"].get("http.status_code") == "200"
            )
        )
        print(
            "\n# the trace of that GET /users/<id>, as Zipkin would show it (sanic_ms.tracing.collector):"
        )
        print(render_tree(trace))
    await collector.stop()
    print("\nservices stopped. Next: `make test`, then the labs (README.md).")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
