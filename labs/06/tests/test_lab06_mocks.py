"""Lab 06: the mock downstream services (labs/06/fakes.py) and your users tests (check_users.py).

Tasks 3 and 4 run your ``check_users.py`` in a pytest process of its own, against the real users
service and against the variants with planted bugs in ``users_variants.py`` (next to this file).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from yarl import URL

from sanic_ms import create_app
from sanic_ms.testing.database import own_schema

import users_variants  # this folder is on sys.path (pytest prepends it)
from users_variants import VARIANTS

HERE = Path(__file__).resolve().parent
# Tasks 3 and 4 run a pytest session first (your tests of the task x every version of the service).
SUITE_TIMEOUT = pytest.mark.timeout(120)
REPO = HERE.parent.parent.parent


# ---------------------------------------------------------------------------------------- task 1


@pytest.mark.task(1)
def test_a_mock_matches_method_path_host_and_query(student):
    fakes = student.load("fakes.py")
    mock = fakes.Mock("GET", "/cities/1")
    assert mock.matches("GET", URL("http://cities:8002/cities/1")), (
        'Mock("GET", "/cities/1") should match GET http://cities:8002/cities/1 (a path matches '
        "any service)"
    )
    assert mock.matches("GET", URL("http://cities:8002/cities/1/")), "a trailing slash is ignored"
    assert not mock.matches("POST", URL("http://cities:8002/cities/1")), "the method must match"
    assert not mock.matches("GET", URL("http://cities:8002/cities/12")), "the path must match"
    one_host = fakes.Mock("GET", "http://roles:8003/roles/2")
    assert not one_host.matches("GET", URL("http://cities:8002/roles/2")), (
        "an absolute URL matches its own host and port only"
    )
    assert not one_host.matches("GET", URL("http://roles:9999/roles/2")), (
        "an absolute URL matches its own port only: http://roles:8003/... is not "
        "http://roles:9999/... (compare scheme, host and port)"
    )
    assert one_host.matches("GET", URL("http://roles:8003/roles/2")), (
        'Mock("GET", "http://roles:8003/roles/2") should match that very URL'
    )
    paged = fakes.Mock("GET", "/users?page=2")
    assert paged.matches("GET", URL("http://u/users?page=2")), (
        'Mock("GET", "/users?page=2") should match GET http://u/users?page=2'
    )
    assert not paged.matches("GET", URL("http://u/users?page=3")), "a registered query must match"
    any_query = fakes.Mock("GET", "/users")
    assert any_query.matches("GET", URL("http://u/users?page=3&size=2")), (
        'Mock("GET", "/users") registers no query, so it matches any query: '
        "compare queries only when the mock has one"
    )


@pytest.mark.task(1)
def test_a_regex_mock_searches_the_whole_url(student):
    import re

    fakes = student.load("fakes.py")
    mock = fakes.Mock("GET", re.compile(r"/cities/\d+$"))
    assert mock.matches("GET", URL("http://cities:8002/cities/77")), (
        r're.compile(r"/cities/\d+$") should match http://cities:8002/cities/77 (search it)'
    )
    assert not mock.matches("GET", URL("http://cities:8002/cities/x")), (
        r're.compile(r"/cities/\d+$") must not match http://cities:8002/cities/x'
    )
    by_host = fakes.Mock("GET", re.compile(r"//cities:8002/"))
    assert by_host.matches("GET", URL("http://cities:8002/cities/1")), (
        "a regex is searched in the whole URL (str(url)), host and port included, not only in "
        "its path"
    )


# ---------------------------------------------------------------------------------------- task 2


@pytest.mark.task(2)
async def test_the_app_gets_answers_from_the_first_matching_mock(student, database_url, serve):
    fakes = student.load("fakes.py")
    app = create_app("lab06", {"DATABASE_URL": database_url, "SERVICES": {"cities": "http://c"}})

    @app.get("/city/<id:int>")
    async def city(request, id):
        return await request.app.ctx.clients.cities.get(f"/cities/{id}", request=request)

    mocks = fakes.MockServices()
    once = mocks.get("/cities/1", payload={"id": 1, "name": "Lisbon"}, times=1)
    later = mocks.get("/cities/1", payload={"id": 1, "name": "Lisboa"})
    mocks.install(app)
    async with serve(app) as served:
        first = await served.get("/city/1")
        second = await served.get("/city/1")
        unmocked = await served.get("/city/9")
    assert first.body == {"code": 0, "data": {"id": 1, "name": "Lisbon"}}, (
        f"the first call should get the first mock's payload; got {first}"
    )
    assert second.body["data"]["name"] == "Lisboa", (
        "a mock registered with times=1 is used up after one call: the next matching mock answers"
    )
    assert (once.call_count, later.call_count) == (1, 1), (
        "each mock records the calls it answered (mock.calls): one call each; got call counts "
        f"{(once.call_count, later.call_count)}"
    )
    assert len(mocks.calls) == 3 and len(mocks.unmatched) == 1, (
        "every call is recorded in mocks.calls; the one nobody answered also in mocks.unmatched"
    )
    assert unmocked.status >= 500, f"an unmocked call must fail, not answer; got {unmocked}"
    with pytest.raises(fakes.UnmockedCall, match="/cities/9"):
        mocks.check()


@pytest.mark.task(2)
def test_a_call_no_mock_answers_raises_unmocked_call(student):
    fakes = student.load("fakes.py")
    mocks = fakes.MockServices()
    mocks.get("/cities/1", payload={"id": 1})
    url = URL("http://cities:8002/cities/9")
    call = fakes.Call("GET", str(url), {}, None, {})
    try:
        found = mocks.find(call, url)
    except fakes.UnmockedCall as exc:
        assert "/cities/9" in str(exc), f"UnmockedCall should name the call's URL; it said {exc}"
    else:
        pytest.fail(
            f"find() of a call no mock matches should raise UnmockedCall naming it, not return "
            f"{found!r}: the test must fail at the call, where the student can see it",
            pytrace=False,
        )
    assert mocks.unmatched == [call] and mocks.calls == [call], (
        "the unanswered call is recorded in mocks.calls and mocks.unmatched; got "
        f"calls={mocks.calls}, unmatched={mocks.unmatched}"
    )


# ---------------------------------------------------------------------------------------- tasks 3, 4


_SUITES: dict[tuple[str, int], tuple[dict, str]] = {}  # (suite's sha256, task) -> its results


@pytest.fixture
def suite_runs(request, student, database_url):
    """Run the student's check_users.py tests of this task against the real users service and
    every variant of that task; once per session for the same file.

    In this process (a nested pytest session, as pytester does): a child process would pay
    pytest's start-up again. Results come back through the plugin's JSON file. The nested session's
    database is a fresh schema of this session's (TEST_DATABASE_URL): as empty as a new database,
    without the seconds of creating and dropping one.
    """
    task = request.node.get_closest_marker("task").args[0]
    suite = student.path("check_users.py")
    key = (hashlib.sha256(suite.read_bytes()).hexdigest(), task)
    if key not in _SUITES:
        with own_schema(database_url, prefix="users_suite") as dsn:
            _SUITES[key] = run_suite(suite, task, dsn)
    return _SUITES[key]


def run_suite(suite, task, database_url):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        names = ("USERS_VARIANT_RESULTS", "USERS_VARIANT_TASK", "TEST_DATABASE_URL")
        saved = {name: os.environ.get(name) for name in names}
        os.environ["USERS_VARIANT_RESULTS"] = str(out)
        os.environ["USERS_VARIANT_TASK"] = str(task)
        os.environ["TEST_DATABASE_URL"] = database_url
        try:
            code = pytest.main(
                [str(suite), "-q", "-s", "-p", "no:cacheprovider", "--timeout", "15", "--import-mode=importlib"]
                + ["--rootdir", str(REPO)],
                plugins=[users_variants],
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        results = json.loads(out.read_text()) if out.exists() else {}
    return results, f"pytest exit code {int(code)}"


def results_of(results, variant, task):
    return [t for t in results.get(variant, []) if t[1] == task]


def check_passes_on_the_real_service(suite_runs, task):
    results, output = suite_runs
    mine = results_of(results, "reference", task)
    assert mine, (
        f"no test marked @pytest.mark.task({task}) ran in check_users.py. pytest said:\n{output}"
    )
    failing = [f"{name}: {message}" for name, _, outcome, message in mine if outcome != "passed"]
    assert not failing, (
        f"your task {task} tests must pass against the real users service, but these fail:\n"
        + "\n".join(failing)
    )


def check_catches(suite_runs, task, variant):
    results, output = suite_runs
    good = {t[0] for t in results_of(results, "reference", task) if t[2] == "passed"}
    caught = [t[0] for t in results_of(results, variant, task) if t[0] in good and t[2] == "failed"]
    assert good, (
        f"none of your task {task} tests passes against the real users service yet, so none can "
        "catch a bug. " + "".join(t[3] for t in results_of(results, "reference", task))[-800:]
    )
    assert caught, (
        f"planted bug not caught: {VARIANTS[variant][1]}. Every task {task} test that passes "
        "against the real service also passed against this broken copy: add an assertion that "
        "notices it."
    )


@pytest.mark.task(3)
@SUITE_TIMEOUT
def test_your_get_user_tests_pass_on_the_real_service(suite_runs):
    check_passes_on_the_real_service(suite_runs, 3)


@pytest.mark.task(3)
@pytest.mark.parametrize("variant", [v for v, spec in VARIANTS.items() if spec[0] == 3])
@SUITE_TIMEOUT
def test_your_get_user_tests_catch_the_planted_bug(suite_runs, variant):
    check_catches(suite_runs, 3, variant)


@pytest.mark.task(4)
@SUITE_TIMEOUT
def test_your_create_and_list_tests_pass_on_the_real_service(suite_runs):
    check_passes_on_the_real_service(suite_runs, 4)


@pytest.mark.task(4)
@pytest.mark.parametrize("variant", [v for v, spec in VARIANTS.items() if spec[0] == 4])
@SUITE_TIMEOUT
def test_your_create_and_list_tests_catch_the_planted_bug(suite_runs, variant):
    check_catches(suite_runs, 4, variant)
