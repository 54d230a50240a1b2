"""B3 propagation: every header form read, written, and malformed input ignored."""

from __future__ import annotations

import logging

import pytest
from multidict import CIMultiDict

from sanic_ms.tracing import b3
from sanic_ms.tracing.b3 import SpanContext, extract, inject_multi, inject_single

TRACE16 = "463ac35c9f6413ad"
TRACE32 = "463ac35c9f6413ad48485a3953bb6124"
SPAN = "a2fb4a1d1a96d312"
PARENT = "0020000000000001"


def test_multi_headers_any_case():
    context = extract(
        {
            "X-B3-TraceId": TRACE32,
            "X-B3-SpanId": SPAN,
            "X-B3-ParentSpanId": PARENT,
            "X-B3-Sampled": "1",
        }
    )
    assert (context.trace_id, context.span_id, context.parent_id) == (TRACE32, SPAN, PARENT)
    assert context.sampled is True and context.debug is False


def test_multi_headers_from_a_case_insensitive_map():
    headers = CIMultiDict({"x-b3-traceid": TRACE16, "X-B3-SPANID": SPAN, "x-b3-sampled": "0"})
    context = extract(headers)
    assert (context.trace_id, context.span_id, context.sampled) == (TRACE16, SPAN, False)


def test_absent_sampled_flag_defers_the_decision():
    context = extract({"x-b3-traceid": TRACE16, "x-b3-spanid": SPAN})
    assert context.sampled is None


def test_debug_flag_forces_sampling():
    context = extract({"x-b3-traceid": TRACE16, "x-b3-spanid": SPAN, "x-b3-flags": "1"})
    assert context.debug is True and context.sampled is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{TRACE32}-{SPAN}-1-{PARENT}", (TRACE32, SPAN, PARENT, True, False)),
        (f"{TRACE16}-{SPAN}-0", (TRACE16, SPAN, None, False, False)),
        (f"{TRACE16}-{SPAN}-d", (TRACE16, SPAN, None, True, True)),
        (f"{TRACE16}-{SPAN}", (TRACE16, SPAN, None, None, False)),
        ("0", (None, None, None, False, False)),
        ("1", (None, None, None, True, False)),
        ("d", (None, None, None, True, True)),
    ],
)
def test_single_header(value, expected):
    c = extract({"b3": value})
    assert (c.trace_id, c.span_id, c.parent_id, c.sampled, c.debug) == expected


def test_single_header_wins_over_multi():
    context = extract({"b3": f"{TRACE16}-{SPAN}-1", "x-b3-traceid": TRACE32, "x-b3-spanid": PARENT})
    assert context.trace_id == TRACE16


def test_bare_sampled_zero_is_a_decision_without_ids():
    context = extract({"X-B3-Sampled": "0"})
    assert context.trace_id is None and context.sampled is False


def test_w3c_traceparent():
    context = extract({"traceparent": f"00-{TRACE32}-{SPAN}-01"})
    assert (context.trace_id, context.span_id, context.sampled) == (TRACE32, SPAN, True)
    assert extract({"traceparent": f"00-{TRACE32}-{SPAN}-00"}).sampled is False


def test_nothing_to_extract():
    assert extract({"content-type": "application/json"}) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"x-b3-traceid": "xyz", "x-b3-spanid": SPAN},
        {"x-b3-traceid": TRACE16.upper(), "x-b3-spanid": SPAN},  # B3 IDs are lowercase hex
        {"x-b3-traceid": TRACE16 + "0", "x-b3-spanid": SPAN},  # 17 characters
        {"x-b3-traceid": "0" * 16, "x-b3-spanid": SPAN},  # all zeros means no ID
        {"x-b3-traceid": TRACE16, "x-b3-spanid": SPAN[:-1]},
        {"x-b3-traceid": TRACE16},  # no span ID
        {"x-b3-spanid": SPAN},  # no trace ID
        {"x-b3-traceid": TRACE16, "x-b3-spanid": SPAN, "x-b3-sampled": "maybe"},
        {"x-b3-traceid": TRACE16, "x-b3-spanid": SPAN, "x-b3-parentspanid": "nope"},
        {"b3": "garbage"},
        {"b3": f"{TRACE16}-{SPAN}-2"},
        {"b3": f"{TRACE16}-{SPAN}-1-{PARENT}-extra"},
        {"traceparent": f"ff-{TRACE32}-{SPAN}-01"},
        {"traceparent": f"00-{'0' * 32}-{SPAN}-01"},
        {"traceparent": f"00-{TRACE16}-{SPAN}-01"},
        {"traceparent": f"00-{TRACE32}-{SPAN}-01-extra"},
    ],
)
def test_malformed_headers_start_a_new_trace_and_log_at_debug(headers, caplog):
    with caplog.at_level(logging.DEBUG, logger="sanic_ms.tracing"):
        assert extract(headers) is None
    assert any("malformed" in r.getMessage() for r in caplog.records)


def read_back(headers):
    """What ``extract`` reads from injected ``headers``: trace, span, parent, sampled."""
    back = extract(headers)
    return back.trace_id, back.span_id, back.parent_id, back.sampled


def test_inject_multi_round_trips():
    context = SpanContext(TRACE32, SPAN, PARENT, sampled=False)
    headers: dict[str, str] = {}
    inject_multi(context, headers)
    assert headers == {
        "X-B3-TraceId": TRACE32,
        "X-B3-SpanId": SPAN,
        "X-B3-ParentSpanId": PARENT,
        "X-B3-Sampled": "0",
    }
    assert read_back(headers) == (TRACE32, SPAN, PARENT, False)


def test_inject_debug_sends_flags_not_sampled():
    headers: dict[str, str] = {}
    inject_multi(SpanContext(TRACE16, SPAN, debug=True), headers)
    assert headers["X-B3-Flags"] == "1" and "X-B3-Sampled" not in headers


def test_inject_single_round_trips():
    headers: dict[str, str] = {}
    inject_single(SpanContext(TRACE16, SPAN, PARENT, sampled=True), headers)
    assert headers == {"b3": f"{TRACE16}-{SPAN}-1-{PARENT}"}
    assert read_back(headers) == (TRACE16, SPAN, PARENT, True)


def test_new_ids_are_lowercase_hex_of_the_right_width():
    for _ in range(200):
        assert b3._SPAN_ID.fullmatch(b3.new_id())
        assert len(b3.new_trace_id(bits128=True)) == 32
