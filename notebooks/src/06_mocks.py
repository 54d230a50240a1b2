# %% [markdown]
# # Lab 06: testing a service with mocked downstream services
#
# `GET /users/<id>` of the users service calls two other services (cities and roles). To test the
# users service alone, without starting those two, we **mock them at the edge**: the app's
# downstream `Client` gets a fake HTTP session (`sanic_ms.testing.MockServices`). Everything else
# is real: the users service on a loopback port, its pool, a real PostgreSQL database, and the
# client's own code (URL building, error mapping, unwrapping the envelope).
#
# In lab 06 you finish that fake session, then write tests for the users service. Grading runs your
# tests against the real users service (they must pass) and against copies with planted bugs
# (your tests must catch each one).

# The fake session below is **yours** (`labs/06/fakes.py`, plugged into the framework the way the
# lab's tests do it); while it is unfinished, the first cell says so and the reference runs.

# %%
from yarl import URL

from grader import notebook as nb
nb.setup()  # cells are rerun: apps of the same name are allowed again


async def works(modules):
    """Your mocks, tried once: a mock answers its own method and URL, and nothing else."""
    mocks = modules["fakes.py"].MockServices()
    city = mocks.get("/cities/2", payload={"code": 0, "data": {"id": 2}})
    assert city.matches("GET", URL("http://127.0.0.1:9/cities/2")), "GET /cities/2 must match"
    assert not city.matches("POST", URL("http://127.0.0.1:9/cities/2")), "another method matched"
    assert not city.matches("GET", URL("http://127.0.0.1:9/cities/3")), "another path matched"


code = await nb.student_code("06", "fakes.py", check=works)
display(code)

from sanic_ms.testing import MockServices, UnmockedCall
from examples.users.server import create_app as create_users

dsn = await nb.database("nb06", rows=True)  # user 1 lives in city 2 and has role 1
mocks = MockServices()
app = create_users({"DATABASE_URL": dsn, "LOG_LEVEL": "ERROR",
                    "SERVICES": {"cities": "http://127.0.0.1:9", "roles": "http://127.0.0.1:9"}})
mocks.install(app)  # before the app starts: its clients get the fake session
users = await nb.start(app)
print("users service at", users, "- cities and roles are not running (port 9 is closed)")

# %% [markdown]
# ## 1. Register answers, call, check what was called

# %%
city = mocks.get("/cities/2", payload={"code": 0, "data": {"id": 2, "name": "Lisbon"}})
role = mocks.get("/roles/1", payload={"code": 0, "data": {"id": 1, "name": "admin"}})
await nb.show("GET", users + "/users/1")
print("cities called", city.call_count, "time(s):", [f"{c.method} {c.url}" for c in city.calls])
print("roles called", role.call_count, "time(s)")

# %% [markdown]
# ## 2. Downstream failures
#
# A mock can answer an error status, raise a connection error, or be slow. The users service must
# turn each into a clear error of its own: **502 Bad Gateway**, naming the service that failed and,
# when it answered, its status and message.

# %%
import aiohttp

mocks.reset()
mocks.get("/cities/2", status=500, payload={"code": 500, "message": "cities is on fire"})
mocks.get("/roles/1", payload={"code": 0, "data": {"id": 1, "name": "admin"}})
await nb.show("GET", users + "/users/1")

mocks.reset()
mocks.get("/cities/2", exception=aiohttp.ClientConnectionError("connection refused"))
mocks.get("/roles/1", payload={"code": 0, "data": {"id": 1, "name": "admin"}})
await nb.show("GET", users + "/users/1")

# %% [markdown]
# ## 3. A call nobody expected
#
# A call with no registered answer fails, and the test that made it fails too, naming the call.
# That is how a test notices that the code calls a service it should not (or with the wrong URL).

# %%
mocks.reset()
mocks.get("/roles/1", payload={"code": 0, "data": {"id": 1, "name": "admin"}})
status, body = await nb.call("GET", users + "/users/1")
print("the users service answered", status)
try:
    mocks.check()  # what a test does at its end (the pytest fixture does it for you)
except UnmockedCall as exc:
    print(exc)

# %% [markdown]
# ## 4. The same as a pytest test
#
# With the `sanic_ms.testing` plugin, a test gets `client` (the app on a loopback port),
# `mock_services` and `db` (a fresh database) as fixtures:
#
# ```python
# sanic_app = "examples.users.server:create_app"
#
# async def test_get_user_shows_city_and_role(client, mock_services, db):
#     await db.execute("INSERT INTO users (name, age, city_id, role_id) VALUES ('Ada', 36, 2, 1)")
#     mock_services.get("/cities/2", payload={"code": 0, "data": {"id": 2, "name": "Lisbon"}})
#     mock_services.get("/roles/1", payload={"code": 0, "data": {"id": 1, "name": "admin"}})
#     status, body = await client.get_user(id=1)
#     assert status == 200 and body["data"]["city"]["name"] == "Lisbon"
# ```

# %% [markdown]
# ## Your turn
#
# Open `labs/06/README.md`: finish the mock downstream client, then write your tests of the users
# service. The cell below runs `pytest labs/06` and shows which tasks pass.

# %%
progress = await nb.lab("06")

# %% [markdown]
# ## Clean up

# %%
await nb.cleanup()
