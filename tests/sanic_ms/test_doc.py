"""The @doc decorators: what they record, that it survives wrapping, and mistakes they refuse."""

from __future__ import annotations

import functools

import pytest

from sanic_ms import doc


def passthrough(fn):
    """A decorator like @logger: wraps with functools.wraps."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        return await fn(*args, **kwargs)

    return wrapper


def test_decorators_record_summary_description_body_responses_and_tags():
    @doc.summary("Create user")
    @doc.description("Create a user; its city must exist.")
    @doc.consumes({"name": str}, content_type="application/json")
    @doc.consumes({"page": int}, location="query")
    @doc.produces({"id": int})
    @doc.produces(None, status=404, description="no such city")
    @doc.tag("users", "admin")
    @doc.tag("users")
    async def create_user(request):
        return {}

    docs = doc.route_doc(create_user)
    assert docs.summary == "Create user"
    assert docs.description == "Create a user; its city must exist."
    assert docs.body().source == {"name": str}
    assert [c.location for c in docs.consumes] == ["query", "body"]
    assert sorted(p.status for p in docs.produces) == [200, 404]
    assert docs.tags == ["users", "admin"]


def test_docs_survive_a_wrapping_decorator_on_either_side():
    @passthrough
    @doc.summary("inner")
    async def wrapped_after(request):
        return None

    @doc.summary("outer")
    @passthrough
    @doc.tag("t")
    async def mixed(request):
        return None

    assert doc.route_doc(wrapped_after).summary == "inner"
    docs = doc.route_doc(mixed)
    assert docs.summary == "outer" and docs.tags == ["t"]
    # One record for the handler, shared by the wrapper and what it wraps.
    assert doc.route_doc(mixed.__wrapped__) is docs


def test_a_handler_without_decorators_has_no_docs():
    async def plain(request):
        return None

    assert doc.route_doc(plain) is None
    assert doc.route_doc(functools.partial(plain)) is None


def test_mistakes_are_refused_when_the_module_loads():
    with pytest.raises(ValueError, match="location must be one of"):
        doc.consumes({"q": str}, location="form")

    with pytest.raises(ValueError, match="already declares a body"):

        @doc.consumes({"a": int})
        @doc.consumes({"b": int})
        async def two_bodies(request):
            return None

    with pytest.raises(ValueError, match="already declares status 200"):

        @doc.produces({"a": int})
        @doc.produces({"b": int})
        async def two_200s(request):
            return None


def test_exclude_and_deprecated_are_flags():
    @doc.exclude
    @doc.deprecated
    async def old(request):
        return None

    docs = doc.route_doc(old)
    assert docs.exclude and docs.deprecated


def test_field_helpers_carry_description_and_optionality():
    name = doc.String("the name", required=False, maxLength=10)
    assert name.description == "the name" and not name.required
    assert name.schema() == {"type": "string"} and name.extra == {"maxLength": 10}
    assert doc.Integer().schema() == {"type": "integer", "format": "int64"}
    assert doc.List(int).items is int
    assert doc.Schema({"type": "string", "format": "email"}).schema()["format"] == "email"
