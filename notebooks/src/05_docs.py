# %% [markdown]
# # Lab 05: API documentation from the code
#
# A service describes its API in an **OpenAPI** document that tools read: Swagger UI shows it as a
# page where you can try each route, client generators and contract tests (schemathesis) use it.
# Written by hand, such a document drifts from the code. `sanic_ms` builds it at startup from
# three things the code already has:
#
# - the routes (paths, methods, path parameters);
# - `doc` decorators on the handlers: `@doc.summary`, `@doc.consumes(...)`, `@doc.produces(...)`;
# - the **peewee models**, turned into JSON schemas field by field (lab 05 rebuilds that part).
#
# Every answer is wrapped in the envelope, so the document wraps every schema in it too.
#
# The services below build their spec with **your** `labs/05/columns.py` and
# `labs/05/envelope.py`, plugged into the framework the way the lab's tests do it; while they are
# unfinished, the first cell says so and the reference runs instead.

# %%
from grader import notebook as nb
nb.setup()  # cells are rerun: apps of the same name are allowed again

dsn = await nb.database("nb05", rows=True)


async def works(modules):
    """Your openapi code, tried once: the users service serves its spec."""
    users = (await nb.examples(dsn, LOG_LEVEL="CRITICAL"))["users"]
    status, spec = await nb.call("GET", users + "/openapi/spec.json")
    assert status == 200, f"GET /openapi/spec.json answered {status}: {spec}"
    assert spec.get("paths"), "the spec lists no path"
    assert spec.get("components", {}).get("schemas"), "the spec has no schemas of the models"


code = await nb.student_code("05", "columns.py", "envelope.py", check=works)
display(code)
services = await nb.examples(dsn)
users = services["users"]
status, spec = await nb.call("GET", users + "/openapi/spec.json")
print(status, spec["openapi"], spec["info"]["title"], "-", len(spec["paths"]), "paths:")
print(", ".join(spec["paths"]))

# %% [markdown]
# ## 1. One route, as the document describes it
#
# `GET /users/{id}` in `examples/users/views.py` carries
# `@doc.summary(...)`, `@doc.consumes(USER_ID, location="path")` and
# `@doc.produces(doc.Model(Users, extra={"city": CityApi, "role": RoleApi}))`. This is what
# became of them (schemas are `$ref`s into `components`):

# %%
import json

from IPython.display import JSON, Markdown, display

route = spec["paths"]["/users/{id}"]["get"]
print(route["summary"], "-", route["description"])
print("parameters:", [(p["name"], p["in"], p["schema"]["type"]) for p in route["parameters"]])
envelope = route["responses"]["200"]["content"]["application/json"]["schema"]
data = envelope["properties"]["data"]
print("200: envelope with", list(envelope["properties"]), "; data is an object:")
for field, schema in data["properties"].items():
    kind = schema.get("$ref", "").rsplit("/", 1)[-1] or schema.get("format", schema.get("type"))
    required = "required" if field in data.get("required", []) else "optional"
    print(f"  {field:<12} {kind:<10} {required:<9} {schema.get('description', '')}")
print("answers described:", ", ".join(route["responses"]))
display(JSON(route, expanded=False))  # the whole operation, as a tree you can unfold in Jupyter

# %% [markdown]
# ## 2. Swagger UI
#
# The same service serves Swagger UI at `/openapi/` (its files come from a Python package, so it
# works offline). The link below works while the services run, that is until the clean-up cell
# at the end.

# %%
status, page = await nb.call("GET", users + "/openapi/")
print("Swagger UI page:", status, "·", page[page.index("<title>") + 7 : page.index("</title>")])
display(Markdown(f"Open [Swagger UI for the users service]({users}/openapi/) in a new tab."))

# %% [markdown]
# ## 3. Your own route, documented and validated
#
# A model, a route decorated with what it consumes and produces, and the document that comes
# out. The declaration is not only documentation: a body that does not match the declared schema
# is refused with a 400 that says which field is wrong, before the handler runs.

# %%
import peewee
import sanic_ms
from sanic_ms import doc

from examples.base import BaseModel


class Books(BaseModel):
    id = peewee.AutoField()
    title = peewee.CharField(max_length=200, help_text="the title on the cover")
    pages = peewee.IntegerField(null=True)
    published = peewee.DateField(null=True)

    class Meta:
        table_name = "books"


books = sanic_ms.create_app("books", {"DATABASE_URL": dsn, "LOG_LEVEL": "ERROR"})


@books.post("/books")
@doc.summary("Add a book")
@doc.consumes(Books)  # the id is generated, so a request body has no id
@doc.produces(Books)
@doc.tag("books")
async def add_book(request):
    return {"id": 1, **request.ctx.data}


books_url = await nb.start(books)
status, books_spec = await nb.call("GET", books_url + "/openapi/spec.json")
operation = books_spec["paths"]["/books"]["post"]
print(json.dumps(operation["requestBody"], indent=2))
print(json.dumps({k: v for k, v in books_spec["components"]["schemas"].items() if "Book" in k},
                 indent=2))

# %%
await nb.show("POST", books_url + "/books", {"title": "Dune", "pages": 412})
await nb.show("POST", books_url + "/books", {"title": "Dune", "pages": "many"})

# %% [markdown]
# ## Your turn
#
# Open `labs/05/README.md` and finish the marked parts in `labs/05/`. The cell below runs
# `pytest labs/05` and shows which tasks pass.

# %%
progress = await nb.lab("05")

# %% [markdown]
# ## Clean up

# %%
await nb.cleanup()
