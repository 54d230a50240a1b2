"""The users service with planted bugs, and a pytest plugin that runs a test suite against each.

Each variant is the real users service (``examples/users``) with one handler replaced by a buggy
copy. ``pytest <suite> -p users_variants`` (with this folder on ``PYTHONPATH``) runs every test
that uses the ``app`` fixture once per variant, plus once against the real service
("reference"), by pointing the suite's ``sanic_app`` at that variant's factory. With
``USERS_VARIANT_RESULTS=<file>`` it writes ``{variant: [[test, task, outcome, message], ...]}``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from sanic import Blueprint

import sanic_ms
from examples.base import page_args
from examples.users import server, views
from sanic_ms import BadRequest, NotFound, async_request
from sanic_ms.responses import json_response, pagination

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


async def _with_city_and_role(request, user, *, city=True, role=True):
    if city:
        user["city"] = await views.get_city_by_id(request, user["city_id"])
    if role:
        user["role"] = await views.get_role_by_id(request, user["role_id"])
    return user


async def get_user_status_201(request, id: int):
    user = await get_user_checked(request, id)
    return json_response({"code": 0, "data": await _with_city_and_role(request, user)}, status=201)


async def get_user_checked(request, id: int):
    user = await _user(request, id)
    if user is None:
        raise NotFound(f"user {id} not found")
    return user


async def get_user_without_age(request, id: int):
    user = await _with_city_and_role(request, await get_user_checked(request, id))
    user.pop("age")
    return user


async def get_user_city_not_attached(request, id: int):
    user = await get_user_checked(request, id)
    await views.get_city_by_id(request, user["city_id"])
    return await _with_city_and_role(request, user, city=False)


async def get_user_role_not_attached(request, id: int):
    user = await get_user_checked(request, id)
    await views.get_role_by_id(request, user["role_id"])
    return await _with_city_and_role(request, user, role=False)


async def get_user_city_fetched_twice(request, id: int):
    user = await get_user_checked(request, id)
    await views.get_city_by_id(request, user["city_id"])  # "does the city exist?"
    return await _with_city_and_role(request, user)


async def get_user_missing_is_200_error(request, id: int):
    user = await _user(request, id)
    if user is None:
        return json_response({"code": 404, "message": f"user {id} not found", "error": None})
    return await _with_city_and_role(request, user)


async def get_user_missing_code_0(request, id: int):
    user = await _user(request, id)
    if user is None:
        return json_response({"code": 0, "message": f"user {id} not found"}, status=404)
    return await _with_city_and_role(request, user)


async def get_user_missing_message_without_id(request, id: int):
    user = await _user(request, id)
    if user is None:
        raise NotFound("user not found")
    return await _with_city_and_role(request, user)


async def get_user_missing_calls_cities(request, id: int):
    user = await _user(request, id)
    if user is None:
        # "Warm the cache" before answering: a downstream call for a user that does not exist.
        with contextlib.suppress(Exception):
            await views.get_city_by_id(request, 1)
        raise NotFound(f"user {id} not found")
    return await _with_city_and_role(request, user)


async def create_user_answers_nothing(request):
    await views.create_user(request)
    return None


async def list_users_page_off_by_one(request):
    page, size = page_args(request.args)
    async with request.app.ctx.db.acquire(request, readonly=True) as conn:
        total = await conn.fetchval("SELECT count(*) FROM users")
        rows = await conn.fetch(
            f"SELECT {views.COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2", size, page * size
        )
    return rows, pagination(page, size, total)


async def list_users_default_size_reported(request):
    rows, paging = await views.list_users(request)
    return rows, {**paging, "size": 20}


def _name_missing(request) -> bool:
    return not isinstance(request.ctx.data, dict) or "name" not in request.ctx.data


async def create_user_missing_name_422(request):
    if _name_missing(request):
        error = {"name": "required"}
        return json_response({"code": 422, "message": "Invalid user", "error": error}, status=422)
    return await views.create_user(request)


async def create_user_missing_name_code_0(request):
    if _name_missing(request):
        return json_response({"code": 0, "message": "Invalid user"}, status=400)
    return await views.create_user(request)


async def create_user_saved_then_refused(request):
    data = request.ctx.data or {}
    if _name_missing(request):
        async with request.app.ctx.db.transaction(request) as conn:
            await conn.execute(
                "INSERT INTO users (name, age, sex, city_id, role_id) VALUES ($1, $2, $3, $4, $5)",
                "",
                data.get("age"),
                data.get("sex"),
                data.get("city_id"),
                data.get("role_id"),
            )
        raise BadRequest("Invalid user", {"name": "required"})
    return await views.create_user(request)


# variant -> (the task whose tests must catch it, what is wrong, the replaced handlers). Every
# check the README asks for has a variant only that check notices.
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
    "user_status_201": (
        3,
        "GET /users/<id> answers 201 instead of 200 (check the status)",
        {"get_user": get_user_status_201},
    ),
    "user_without_age": (
        3,
        "GET /users/<id> leaves out the user's age (check the user's own fields)",
        {"get_user": get_user_without_age},
    ),
    "city_not_attached": (
        3,
        "GET /users/<id> fetches the city but never puts it on the user (check `city`)",
        {"get_user": get_user_city_not_attached},
    ),
    "role_not_attached": (
        3,
        "GET /users/<id> fetches the role but never puts it on the user (check `role`)",
        {"get_user": get_user_role_not_attached},
    ),
    "city_fetched_twice": (
        3,
        "GET /users/<id> calls the cities service twice (check each mock's call_count)",
        {"get_user": get_user_city_fetched_twice},
    ),
    "missing_user_200_error": (
        3,
        "GET /users/<id> of an unknown user answers the error envelope with status 200 "
        "(check the status)",
        {"get_user": get_user_missing_is_200_error},
    ),
    "missing_user_code_0": (
        3,
        "GET /users/<id> of an unknown user answers 404 with code 0 (check the code)",
        {"get_user": get_user_missing_code_0},
    ),
    "missing_user_message_without_id": (
        3,
        "GET /users/<id> of an unknown user answers a message that does not name the id",
        {"get_user": get_user_missing_message_without_id},
    ),
    "missing_user_calls_cities": (
        3,
        "GET /users/<id> of an unknown user still calls the cities service "
        "(check mock_services.calls)",
        {"get_user": get_user_missing_calls_cities},
    ),
    "create_answers_nothing": (
        4,
        "POST /users saves the user but answers no data (check the created user's name)",
        {"create_user": create_user_answers_nothing},
    ),
    "page_off_by_one": (
        4,
        "GET /users?page=1 skips the first page's rows (check which users are listed)",
        {"list_users": list_users_page_off_by_one},
    ),
    "size_not_reported": (
        4,
        "GET /users reports the default size instead of the one asked (check page and size)",
        {"list_users": list_users_default_size_reported},
    ),
    "missing_name_422": (
        4,
        "POST /users without a name answers 422 instead of 400 (check the status)",
        {"create_user": create_user_missing_name_422},
    ),
    "missing_name_code_0": (
        4,
        "POST /users without a name answers 400 with code 0 (check the code)",
        {"create_user": create_user_missing_name_code_0},
    ),
    "missing_name_saved_anyway": (
        4,
        "POST /users without a name answers 400 but saves the user (check the users table)",
        {"create_user": create_user_saved_then_refused},
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # USERS_VARIANT_TASK=3: only the suite's tests of task 3 (the grader checks one task at a time).
    only = os.environ.get("USERS_VARIANT_TASK")
    if not only:
        return
    keep = []
    for item in items:
        marker = item.get_closest_marker("task")
        task = marker.args[0] if marker and marker.args else None
        if task is None or str(task) == only:
            keep.append(item)
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


# (the test's own code, its module's other code, variant) -> its result, for this process: the
# grader runs many copies of a suite that differ in one test; the others need not run again.
_RAN: dict[tuple[str, str, str], tuple[str, int | None, str, str]] = {}
_CACHED = pytest.StashKey[bool]()


@functools.lru_cache(maxsize=16)
def _rest_digest(source: str) -> str:
    """The digest of a module's code but its test functions (parsed once per distinct source)."""
    tree = ast.parse(source)
    rest = [
        ast.get_source_segment(source, node) or ""
        for node in tree.body
        if not (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
        )
    ]
    return hashlib.sha256("\n".join(rest).encode()).hexdigest()


def _code_key(item: pytest.Item, variant: str) -> tuple[str, str, str] | None:
    function = getattr(item, "function", None)
    if function is None:
        return None
    try:
        source = Path(item.path).read_text()
        digest = _rest_digest(source)
        own = inspect.getsource(function)
    except (OSError, SyntaxError, TypeError):
        return None
    return hashlib.sha256(own.encode()).hexdigest(), digest, variant


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
        key = _code_key(item, variant)
        if key in _RAN:
            item.stash[_CACHED] = True
            _results[variant][name] = (name, *_RAN[key][1:])
            pytest.skip("the same test already ran against this version of the service")
        item.module.sanic_app = factory(variant)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name, _, variant = report.nodeid.rpartition("::")[2].partition("[")
    variant = variant.rstrip("]") or "reference"
    if getattr(report, "cached", False):
        return
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
    report.cached = item.stash.get(_CACHED, False)
    return report


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    if item.stash.get(_CACHED, False) or callspec is None or "users_variant" not in callspec.params:
        return
    variant = callspec.params["users_variant"]
    name = item.nodeid.rpartition("::")[2].partition("[")[0]
    if (key := _code_key(item, variant)) is not None and name in _results[variant]:
        _RAN[key] = _results[variant][name]


def pytest_sessionstart(session: pytest.Session) -> None:
    _results.clear()  # the grader may run several suites in one process


def pytest_sessionfinish(session: pytest.Session) -> None:
    if out := os.environ.get("USERS_VARIANT_RESULTS"):
        data = {variant: list(tests.values()) for variant, tests in _results.items()}
        Path(out).write_text(json.dumps(data, indent=1))
