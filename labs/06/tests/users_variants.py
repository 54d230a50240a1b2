"""The users service with planted bugs, and a pytest plugin that runs a test suite against each.

Each variant is the real users service (``examples/users``) with one handler replaced by a buggy
copy. ``pytest <suite> -p users_variants`` (with this folder on ``PYTHONPATH``) runs every test
that uses the ``app`` fixture once per variant, plus once against the real service
("reference"), by pointing the suite's ``sanic_app`` at that variant's factory. With
``USERS_VARIANT_RESULTS=<file>`` it writes ``{variant: [[test, task, outcome, message], ...]}``.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from sanic import Blueprint

import sanic_ms
from examples.users import server, views
from sanic_ms import NotFound, async_request

ROUTES = [
    ("create_user", "/users", "POST"),
    ("get_user", "/users/<id:int>", "GET"),
    ("list_users", "/users", "GET"),
    ("update_user", "/users/<id:int>", "PUT"),
    ("delete_user", "/users/<id:int>", "DELETE"),
]


async def _user(request, id):
    async with request.app.ctx.db.acquire(request) as conn:
        return await conn.fetchrow(f"SELECT {views.COLUMNS} FROM users WHERE id = $1", id)


async def get_user_without_city(request, id: int):
    user = await _user(request, id)
    if user is None:
        raise NotFound(f"user {id} not found")
    user["role"] = await views.get_role_by_id(request, user["role_id"])
    return user


async def get_user_ids_swapped(request, id: int):
    user = await _user(request, id)
    if user is None:
        raise NotFound(f"user {id} not found")
    await async_request(
        [
            (user, "city", views.get_city_by_id(request, user["role_id"])),
            (user, "role", views.get_role_by_id(request, user["city_id"])),
        ]
    )
    return user


async def get_user_missing_is_200(request, id: int):
    user = await _user(request, id)
    if user is None:
        return None
    await async_request(
        [
            (user, "city", views.get_city_by_id(request, user["city_id"])),
            (user, "role", views.get_role_by_id(request, user["role_id"])),
        ]
    )
    return user


async def list_users_total_is_page(request):
    rows, pagination = await views.list_users(request)
    return rows, {**pagination, "total": len(rows)}


async def create_user_unchecked(request):
    data = request.ctx.data or {}
    async with request.app.ctx.db.transaction(request) as conn:
        return await conn.fetchrow(
            "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ($1, $2, $3, $4, $5) "
            f"RETURNING {views.COLUMNS}",
            data.get("name", ""),
            data.get("age"),
            data.get("sex"),
            data.get("city_id"),
            data.get("role_id"),
        )


# variant -> (the task whose tests must catch it, what is wrong, the replaced handlers)
VARIANTS = {
    "no_city": (3, "GET /users/<id> never fetches the city", {"get_user": get_user_without_city}),
    "ids_swapped": (
        3,
        "GET /users/<id> asks the cities service for the role id and vice versa",
        {"get_user": get_user_ids_swapped},
    ),
    "missing_user_200": (
        3,
        "GET /users/<id> of an unknown user answers 200 with no data",
        {"get_user": get_user_missing_is_200},
    ),
    "total_is_page_size": (
        4,
        "GET /users reports the page's row count as the total",
        {"list_users": list_users_total_is_page},
    ),
    "create_unchecked": (
        4,
        "POST /users saves a user without checking its fields",
        {"create_user": create_user_unchecked},
    ),
}


def factory(variant: str):
    """``create_app(settings)`` of the users service with ``variant``'s handlers swapped in."""
    replaced = {} if variant == "reference" else VARIANTS[variant][2]

    def create_app(settings=None):
        app = sanic_ms.create_app(server.NAME, {**server.SETTINGS, **(settings or {})})
        bp = Blueprint("users")
        for name, uri, method in ROUTES:
            handler = replaced.get(name) or getattr(views, name)
            bp.add_route(handler, uri, methods=[method], name=name)
        app.blueprint(bp)
        return app

    return create_app


# -- the plugin ----------------------------------------------------------------------------------

_results: dict[str, dict[str, tuple[str, int | None, str, str]]] = defaultdict(dict)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test marked with a task runs against the variants of that task only (it is graded on
    # those); an unmarked one against all.
    if "app" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("task")
        task = marker.args[0] if marker and marker.args else None
        chosen = [v for v, spec in VARIANTS.items() if task is None or spec[0] == task]
        metafunc.fixturenames.append("users_variant")
        metafunc.parametrize("users_variant", ["reference", *chosen])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "users_variant" in callspec.params:
        variant = callspec.params["users_variant"]
        name = item.nodeid.rpartition("::")[2].partition("[")[0]
        reference = _results["reference"].get(name)
        if variant != "reference" and (reference is None or reference[2] != "passed"):
            # A test failing on the real service catches nothing; save the time.
            pytest.skip("fails against the real users service")
        item.module.sanic_app = factory(variant)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name, _, variant = report.nodeid.rpartition("::")[2].partition("[")
    variant = variant.rstrip("]") or "reference"
    if report.when == "call" or report.failed:
        previous = _results[variant].get(name)
        if previous is None or previous[2] == "passed":
            message = str(report.longrepr)[-1500:] if report.failed else ""
            _results[variant][name] = (name, getattr(report, "task", None), report.outcome, message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    marker = item.get_closest_marker("task")
    report.task = marker.args[0] if marker and marker.args else None
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    _results.clear()  # the grader may run several suites in one process


def pytest_sessionfinish(session: pytest.Session) -> None:
    if out := os.environ.get("USERS_VARIANT_RESULTS"):
        data = {variant: list(tests.values()) for variant, tests in _results.items()}
        Path(out).write_text(json.dumps(data, indent=1))
