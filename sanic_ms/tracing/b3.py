"""B3 trace context: the span context we carry, and reading/writing it as HTTP headers.

Zipkin's B3 comes in two forms: several ``X-B3-*`` headers, or one ``b3`` header
(``{trace}-{span}-{sampled}-{parent}``). Extraction also accepts W3C ``traceparent`` so a
request from an OpenTelemetry-instrumented caller joins its trace. Anything malformed is ignored
(logged at debug): the request starts a new trace instead of failing.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, MutableMapping

import basictracer.context
from multidict import CIMultiDict, CIMultiDictProxy

log = logging.getLogger("sanic_ms.tracing")

_TRACE_ID = re.compile(r"(?:[0-9a-f]{16}|[0-9a-f]{32})")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZEROS = frozenset({"0" * 16, "0" * 32})

# Header names, lowercase: Sanic's and aiohttp's header maps are case-insensitive.
TRACE_ID = "x-b3-traceid"
SPAN_ID = "x-b3-spanid"
PARENT_ID = "x-b3-parentspanid"
SAMPLED = "x-b3-sampled"
FLAGS = "x-b3-flags"
SINGLE = "b3"
TRACEPARENT = "traceparent"

_getrandbits = random.getrandbits
_CASE_INSENSITIVE = (CIMultiDict, CIMultiDictProxy)  # Sanic's and aiohttp's header maps


def new_id() -> str:
    """A random, non-zero 64-bit ID as 16 lowercase hex characters."""
    while True:
        value = _getrandbits(64)
        if value:
            return f"{value:016x}"


def new_trace_id(bits128: bool = False) -> str:
    """A random trace ID: 16 hex characters, or 32 when ``bits128``."""
    return new_id() + new_id() if bits128 else new_id()


class SpanContext(basictracer.context.SpanContext):  # type: ignore[misc]  # no types shipped
    """What travels with a span: IDs as lowercase hex and the sampling decision.

    ``trace_id`` is None only for a context extracted from a bare sampling decision
    (``X-B3-Sampled: 0`` or ``b3: 0`` with no IDs): the next span starts a new trace but keeps
    the decision. ``sampled`` is None when the caller deferred the decision to us.
    """

    def __init__(
        self,
        trace_id: str | None = None,
        span_id: str | None = None,
        parent_id: str | None = None,
        sampled: bool | None = True,
        debug: bool = False,
        baggage: dict[str, str] | None = None,
    ) -> None:
        # Not calling super().__init__: it would set the same four attributes more slowly.
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.sampled = True if debug else sampled
        self.debug = debug
        self._baggage = baggage or basictracer.context.SpanContext.EMPTY_BAGGAGE

    def with_baggage_item(self, key: str, value: str) -> SpanContext:
        baggage = dict(self._baggage)
        baggage[key] = value
        return SpanContext(
            self.trace_id, self.span_id, self.parent_id, self.sampled, self.debug, baggage
        )

    def __repr__(self) -> str:
        return (
            f"SpanContext(trace_id={self.trace_id!r}, span_id={self.span_id!r}, "
            f"parent_id={self.parent_id!r}, sampled={self.sampled!r}, debug={self.debug!r})"
        )


class Malformed(ValueError):
    """Incoming trace headers that cannot be trusted."""


def _sampled_flag(value: str) -> bool:
    # "true"/"false" are what some old B3 clients sent; the spec says 1/0.
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise Malformed(f"sampled flag {value!r}")


def _trace_id(value: str) -> str:
    if not _TRACE_ID.fullmatch(value) or value in _ZEROS:
        raise Malformed(f"trace id {value!r}")
    return value


def _span_id(value: str) -> str:
    if not _SPAN_ID.fullmatch(value) or value in _ZEROS:
        raise Malformed(f"span id {value!r}")
    return value


def parse_single(value: str) -> SpanContext:
    """Parse a ``b3`` header: ``{trace}-{span}[-{1|0|d}[-{parent}]]`` or just ``1|0|d``."""
    parts = value.strip().split("-")
    if len(parts) == 1:
        flag = parts[0]
        if flag == "d":
            return SpanContext(debug=True)
        return SpanContext(sampled=_sampled_flag(flag))
    if len(parts) > 4:
        raise Malformed(f"b3 {value!r}")
    trace_id, span_id = _trace_id(parts[0]), _span_id(parts[1])
    sampled, debug, parent_id = None, False, None
    if len(parts) >= 3:
        if parts[2] == "d":
            debug = True
        else:
            sampled = _sampled_flag(parts[2])
    if len(parts) == 4:
        parent_id = _span_id(parts[3])
    return SpanContext(trace_id, span_id, parent_id, sampled, debug)


def parse_multi(headers: Mapping[str, str]) -> SpanContext | None:
    """Parse the ``X-B3-*`` headers (lowercase keys or a case-insensitive map)."""
    # BEGIN SOLUTION task 1: read the X-B3-* headers into a SpanContext (None when absent)
    trace_id = headers.get(TRACE_ID)
    sampled_value = headers.get(SAMPLED)
    debug = headers.get(FLAGS) == "1"
    sampled = None if sampled_value is None else _sampled_flag(sampled_value.strip().lower())
    if trace_id is None:
        if headers.get(SPAN_ID) is not None:
            raise Malformed("X-B3-SpanId without X-B3-TraceId")
        if sampled is None and not debug:
            return None
        return SpanContext(sampled=sampled, debug=debug)
    span_id = headers.get(SPAN_ID)
    if span_id is None:
        raise Malformed("X-B3-TraceId without X-B3-SpanId")
    parent = headers.get(PARENT_ID)
    return SpanContext(
        _trace_id(trace_id.strip()),
        _span_id(span_id.strip()),
        None if parent is None else _span_id(parent.strip()),
        sampled,
        debug,
    )
    # END SOLUTION


def parse_traceparent(value: str) -> SpanContext:
    """Parse a W3C ``traceparent``: ``{version}-{trace 32}-{parent 16}-{flags}``."""
    match = _TRACEPARENT.fullmatch(value.strip())
    if not match:
        raise Malformed(f"traceparent {value!r}")
    version, trace_id, span_id, flags, rest = match.groups()
    # Version ff is forbidden; version 00 has exactly four fields; later versions may add more.
    if version == "ff" or (version == "00" and rest):
        raise Malformed(f"traceparent {value!r}")
    return SpanContext(_trace_id(trace_id), _span_id(span_id), None, bool(int(flags, 16) & 1))


def _case_insensitive(carrier: Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(carrier, _CASE_INSENSITIVE):
        return carrier
    return {str(key).lower(): value for key, value in carrier.items()}


def extract(carrier: Mapping[str, str]) -> SpanContext | None:
    """The caller's context from its headers, or None (a new trace) if absent or malformed.

    Precedence: ``b3``, then ``X-B3-*``, then ``traceparent``.
    """
    headers = _case_insensitive(carrier)
    try:
        single = headers.get(SINGLE)
        if single is not None:
            return parse_single(single)
        context = parse_multi(headers)
        if context is not None:
            return context
        parent = headers.get(TRACEPARENT)
        if parent is not None:
            return parse_traceparent(parent)
    except Malformed as exc:
        log.debug("ignoring malformed trace headers (%s); starting a new trace", exc)
    return None


def inject_multi(context: SpanContext, carrier: MutableMapping[str, str]) -> None:
    """Write ``X-B3-*`` headers for a downstream call made within ``context``."""
    if context.trace_id is None or context.span_id is None:
        raise ValueError(f"{context!r} is a bare sampling decision: no span to call from")
    # BEGIN SOLUTION task 2: write the context as X-B3-* headers into the carrier
    carrier["X-B3-TraceId"] = context.trace_id
    carrier["X-B3-SpanId"] = context.span_id
    if context.parent_id is not None:
        carrier["X-B3-ParentSpanId"] = context.parent_id
    if context.debug:
        carrier["X-B3-Flags"] = "1"  # debug implies sampled; the spec says omit X-B3-Sampled
    elif context.sampled is not None:
        carrier["X-B3-Sampled"] = "1" if context.sampled else "0"
    # END SOLUTION


def inject_single(context: SpanContext, carrier: MutableMapping[str, str]) -> None:
    """Write one ``b3`` header for a downstream call made within ``context``."""
    value = f"{context.trace_id}-{context.span_id}"
    if context.debug:
        value += "-d"
    elif context.sampled is not None:
        value += "-1" if context.sampled else "-0"
    if context.parent_id is not None and (context.debug or context.sampled is not None):
        value += f"-{context.parent_id}"
    carrier["b3"] = value


class B3Propagator:
    """A basictracer propagator: inject one B3 form, extract any of them (and traceparent)."""

    def __init__(self, single: bool = False) -> None:
        self.single = single

    def inject(self, span_context: SpanContext, carrier: MutableMapping[str, str]) -> None:
        if self.single:
            inject_single(span_context, carrier)
        else:
            inject_multi(span_context, carrier)

    def extract(self, carrier: Mapping[str, str]) -> SpanContext | None:
        return extract(carrier)
