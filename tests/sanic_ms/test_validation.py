"""Request checks: one entry per wrong field, named by its path, in the services' own words.

``RequestValidator.check`` is what ``doc.consumes`` installs before a handler (its HTTP side is in
tests/sanic_ms/openapi/); here each message a client can get, on a request as Sanic hands it over.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sanic.request.parameters import RequestParameters

from sanic_ms import errors
from sanic_ms.validation import Parameter, RequestValidator

PERSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "address"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "code": {"type": "string", "minLength": 3, "pattern": "^[A-Z]+$"},
        "kind": {"enum": ["a", "b"]},
        "born": {"type": "string", "format": "date"},
        "age": {"type": ["integer", "null"], "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "additionalProperties": False,
            "required": ["city"],
            "properties": {"city": {"type": "string"}},
        },
    },
}
GOOD = {"name": "Ada", "address": {"city": "Lisbon"}}


def request(query=None, headers=None, path=None):
    return SimpleNamespace(
        args=RequestParameters(query or {}),
        headers=headers or {},
        cookies={},
        match_info=path or {},
    )


def problems(validator, req, body):
    with pytest.raises(errors.BadRequest) as caught:
        validator.check(req, body)
    assert caught.value.status_code == 400
    return caught.value.message, caught.value.error


def test_a_valid_body_passes():
    RequestValidator(body=PERSON).check(request(), {**GOOD, "age": None, "tags": ["x"]})


def test_every_wrong_field_is_named_by_its_path_with_a_plain_message():
    body = {
        "name": "",
        "code": "ab",
        "kind": "c",
        "born": "2026-13-01",
        "age": 200,
        "tags": ["x", 1],
        "address": {"town": "Lisbon"},
        "extra": 1,
    }
    message, found = problems(RequestValidator(body=PERSON), request(), body)
    assert message == "Request body is invalid (9 fields)"
    assert found == {
        "name": "must not be empty",
        "code": "must be at least 3 characters",
        "kind": "must be one of 'a', 'b'",
        "born": "must be a valid date",
        "age": "must be <= 150",
        "tags[1]": "must be a string",
        "address.city": "required",
        "address.town": "unknown field",
        "extra": "unknown field",
    }


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("age", "old", "must be an integer or null"),
        ("age", -1, "must be >= 0"),
        ("code", "abc", "must match ^[A-Z]+$"),
        ("born", 19, "must be a string"),
        ("address", [], "must be an object"),
    ],
)
def test_one_wrong_field_one_message(field, value, said):
    message, found = problems(RequestValidator(body=PERSON), request(), {**GOOD, field: value})
    assert (message, found) == ("Request body is invalid (1 field)", {field: said})


def test_a_missing_body_is_named_unless_optional():
    _, found = problems(RequestValidator(body=PERSON), request(), None)
    assert found == {"body": "a JSON body is required"}
    RequestValidator(body=PERSON, body_required=False).check(request(), None)


PARAMETERS = [
    Parameter("page", "query", {"type": "integer", "minimum": 1}, False),
    Parameter("ids", "query", {"type": "array", "items": {"type": "integer"}}, False),
    Parameter("on", "query", {"type": "boolean"}, False),
    Parameter("x-token", "header", {"type": "string"}, True),
    Parameter("id", "path", {"type": "integer", "maximum": 1000}, True),
]


def test_parameters_read_as_their_schema_says_pass():
    validator = RequestValidator(parameters=PARAMETERS)
    query = {"page": ["2"], "ids": ["1", "2"], "on": ["true"]}
    validator.check(request(query, {"x-token": "t"}, {"id": 7}), None)


def test_wrong_parameters_say_what_came_and_which_are_required():
    validator = RequestValidator(parameters=PARAMETERS, body=PERSON)
    query = {"page": ["0"], "ids": ["1", "x"], "on": ["maybe"]}
    message, found = problems(validator, request(query, {}, {"id": 1001}), GOOD)
    assert message == "Request is invalid (5 fields)"
    assert found == {
        "page": "must be >= 1",
        "ids": "must be an integer, got [1, 'x']",
        "on": "must be true or false, got 'maybe'",
        "x-token": "required (a header parameter)",
        "id": "must be <= 1000",
    }
