# %% [markdown]
# # Lab 02: middleware, the envelope and uniform errors
#
# Every answer of a `sanic_ms` service has the same shape, so clients need one parser:
#
# - success: `{"code": 0, "data": ...}`, plus `"pagination"` for a page of a list;
# - failure: `{"code": <non-zero>, "message": "...", "error": ...}` with the right HTTP status.
#
# Handlers never build that shape themselves: they return plain data or raise an error, and the
# middleware you rebuild in `labs/02/` (`middleware.py`, `responses.py`) does the rest. It also
# parses JSON bodies into `request.ctx.data` and adds CORS headers. This notebook shows each of
# those on real services over loopback HTTP, running **your** `labs/02/` files plugged into the
# framework the way the lab's tests do it; while they are unfinished, the first cell says so and
# the reference runs instead.

# %%
from grader import notebook as nb
nb.setup()  # cells are rerun: apps of the same name are allowed again

dsn = await nb.database("nb02", rows=True)


async def works(modules):
    """Your middleware, tried once: the envelope, an unknown route, a body that is not JSON."""
    users = (await nb.examples(dsn, LOG_LEVEL="CRITICAL"))["users"]
    status, body = await nb.call("GET", users + "/users/1")
    assert status == 200 and body["code"] == 0, f"GET /users/1 answered {status} {body}"
    status, body = await nb.call("GET", users + "/no/such/route")
    assert status == 404 and body["code"] == 404, f"an unknown route answered {status} {body}"
    status, body = await nb.call("POST", users + "/users", "{not json")
    assert status == 400 and body["code"] == 400, f"a body that is not JSON answered {status} {body}"


code = await nb.student_code("02", "responses.py", "middleware.py", check=works)
services = await nb.examples(dsn)
users = services["users"]
print(services)
code

# %% [markdown]
# ## 1. The envelope on the example services
#
# `GET /users/1` returns the user row; the users service fetched the city and the role from the two
# other services (in parallel) and put them in. A list returns `(rows, pagination)` and the
# middleware turns the tuple into `data` and `pagination`.

# %%
await nb.show("GET", users + "/users/1")
await nb.show("GET", users + "/users?page=1&size=1")

# %% [markdown]
# ## 2. What a handler returns, and what the client gets
#
# A tiny service with one route per case. Read each handler, then its answer below.

# %%
import sanic_ms
from sanic import response

shapes = sanic_ms.create_app("shapes", {"DATABASE_URL": dsn, "LOG_LEVEL": "CRITICAL"})


@shapes.get("/plain")
async def plain(request):
    return {"answer": 42}  # plain data -> {"code": 0, "data": ...}


@shapes.get("/page")
async def page(request):
    return [{"id": 1}, {"id": 2}], {"page": 1, "size": 2, "total": 7}  # (rows, pagination)


@shapes.get("/raw")
async def raw(request):
    return response.text("pong")  # an HTTPResponse passes through untouched


@shapes.get("/missing")
async def missing(request):
    raise sanic_ms.NotFound("no such thing", {"id": 7})  # our error -> its status and envelope


@shapes.get("/crash")
async def crash(request):
    return 1 / 0  # a bug -> 500, a generic message and an error id; the traceback goes to the log


@shapes.post("/echo")
async def echo(request):
    return {"you_sent": request.ctx.data}  # the parsed JSON body


url = await nb.start(shapes)
for path in ("/plain", "/page", "/raw", "/missing", "/crash", "/nowhere"):
    await nb.show("GET", url + path)

# %% [markdown]
# `/nowhere` has no route: Sanic's own 404 is answered in the same envelope.
#
# ## 3. Bodies: parsed once, bad input explained
#
# POST, PUT and PATCH bodies are parsed before the handler runs. A body that is not JSON gets a
# 400 that says why; the handler never runs.

# %%
await nb.show("POST", url + "/echo", {"name": "Grace"})
await nb.show("POST", url + "/echo", "{name: oops")
await nb.show("POST", users + "/users", {"name": "Grace", "age": "old"})  # the service's own checks

# %% [markdown]
# ## 4. CORS
#
# A browser page on another origin may call the API only if the answer says so. `CORS_ORIGINS`
# lists the origins allowed (`*` for any). Before a cross-origin POST the browser sends an
# `OPTIONS` "preflight"; the answer's `access-control-allow-origin` decides.

# %%
import aiohttp

cors = sanic_ms.create_app(
    "cors", {"DATABASE_URL": dsn, "CORS_ORIGINS": "http://127.0.0.1:3000", "LOG_LEVEL": "CRITICAL"}
)


@cors.post("/things")
async def things(request):
    return request.ctx.data


cors_url = await nb.start(cors)
async with aiohttp.ClientSession() as session:
    for origin in ("http://127.0.0.1:3000", "http://127.0.0.1:6666"):
        headers = {"origin": origin, "access-control-request-method": "POST"}
        async with session.options(cors_url + "/things", headers=headers) as answer:
            allowed = answer.headers.get("access-control-allow-origin")
            print(f"preflight from {origin}: {answer.status}, allow-origin = {allowed}")

# %% [markdown]
# ## Your turn
#
# Open `labs/02/README.md` and finish the marked parts of `labs/02/middleware.py` and
# `labs/02/responses.py`. The cell below runs `pytest labs/02` and shows which tasks pass.

# %%
progress = await nb.lab("02")

# %% [markdown]
# ## Clean up

# %%
await nb.cleanup()
