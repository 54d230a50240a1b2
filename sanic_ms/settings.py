"""Default settings, and how an app's settings are layered: defaults, then yours, then environment.

A service sets its own defaults (``create_app(name, defaults=SETTINGS)``), the environment
overrides them (an UPPERCASE variable of the same name; a single downstream's base URL with
``<NAME>_SERVICE_URL``, e.g. ``CITIES_SERVICE_URL=http://cities:8002``), and settings passed
explicitly (``create_app(name, {...})``, as tests do) override everything. See :func:`load`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

# Database. DATABASE_URL is required: create_app says how to set it when it is missing.
DATABASE_URL: str | None = None
DB_REPLICA_URL: str | None = None  # reads with acquire(readonly=True) go here when set
DB_MIN_SIZE = 1
DB_MAX_SIZE = 10
# A request's whole database time (waiting for connections plus running statements, over all its
# acquire()/transaction() blocks, from the first one) ends after DB_REQUEST_TIMEOUT seconds:
# out of time while waiting for a connection -> 503; while a statement runs -> 504, and the
# statement is cancelled on the server. The two below cap each part within that budget.
DB_REQUEST_TIMEOUT = 10.0
DB_COMMAND_TIMEOUT = 10.0  # seconds one statement may run
DB_ACQUIRE_TIMEOUT = 5.0  # seconds to wait for a free connection before answering 503

# Downstream services: name -> base URL. Each gets one aiohttp session (keep-alive).
SERVICES: dict[str, str] = {}
CLIENT_TIMEOUT = 5.0  # seconds for a whole downstream call
CLIENT_MAX_SIZE = 10_000_000  # bytes; a larger downstream answer is a 502, never read whole

# Tracing.
ZIPKIN_URL: str | None = None  # e.g. http://127.0.0.1:9411; None: spans are not reported
TRACING_ENABLED = True
TRACING_SAMPLE_RATE = 1.0
TRACING_BACKEND = "basic"  # basictracer + our Zipkin reporter; "otel": OpenTelemetry via its shim
TRACING_PROPAGATION = "b3multi"  # what we send downstream: X-B3-* headers, or "b3single"
TRACING_TRACE_ID_128BIT = False  # new traces get 16-hex IDs; True: 32 (W3C-compatible)
TRACING_SQL_PARAMS = False  # record bind values in sql.params (off: they may be personal data)
TRACING_QUEUE_SIZE = 10_000  # finished spans waiting to be posted; beyond this they are dropped
TRACING_BATCH_SIZE = 500  # spans per POST (fewer, larger posts: less aiohttp per span)
TRACING_FLUSH_INTERVAL = 0.5  # seconds between posts (sooner when a batch is full)
TRACING_POST_TIMEOUT = 2.0  # seconds one POST may take before it counts as failed
TRACING_FLUSH_TIMEOUT = 5.0  # seconds to post what is queued when the server stops
TRACING_STATS_INTERVAL = 60.0  # seconds between reporter counter lines in the log (0: never)

# HTTP.
CORS_ORIGINS = "*"  # comma-separated origins, "*" for any, "" to send no CORS headers
REQUEST_MAX_SIZE = 1_000_000  # bytes; larger bodies get 413
# Arrays and objects nested deeper than this in a request body get 400. Keep it far below Python's
# recursion limit (1000): validating a body recurses once per level.
JSON_MAX_DEPTH = 32

# The garbage collector: collect young objects every GC_THRESHOLD net allocations instead of
# Python's 700 (0: leave it as Python set it). See sanic_ms.gc_tuning: with spans queued for
# their batch, Python's default cost about 4 % of a traced worker's CPU.
GC_THRESHOLD = 20_000

# Logging.
LOG_CONFIG = str(Path(__file__).with_name("logging.yml"))
LOG_LEVEL = "INFO"

_UNSET = object()


def defaults() -> dict[str, Any]:
    """The settings above, as a dict."""
    return {k: v for k, v in globals().items() if k.isupper() and not k.startswith("_")}


def _as_dict(settings: dict[str, Any] | ModuleType | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, ModuleType):
        return {k: getattr(settings, k) for k in dir(settings) if k.isupper()}
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings are a dict or a module, not {type(settings).__name__}")
    return dict(settings)


def _convert(name: str, raw: str, default: Any) -> Any:
    """An environment string turned into the type of the setting's default."""
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, dict):
            return json.loads(raw)
    except ValueError as exc:
        raise ValueError(
            f"environment variable {name}={raw!r} is not a valid {type(default).__name__}"
        ) from exc
    return raw or None


def load(
    settings: dict[str, Any] | ModuleType | None = None,
    environ: Mapping[str, str] = os.environ,
    *,
    base: dict[str, Any] | ModuleType | None = None,
) -> dict[str, Any]:
    """The settings an app runs with, each layer overriding the one before:

    1. the defaults above;
    2. ``base``: a service's own defaults (its settings module);
    3. the environment (how Docker and CI configure a deployed service);
    4. ``settings``: what the code creating the app passes explicitly (a test, a notebook).
    """
    merged = defaults()
    merged.update(_as_dict(base))
    services = dict(merged.get("SERVICES") or {})
    for name, value in list(merged.items()):
        raw = environ.get(name)
        if raw is not None:
            merged[name] = _convert(name, raw, defaults().get(name, value))
            if name == "SERVICES":
                services = dict(merged[name])
    for key, raw in environ.items():
        if key.endswith("_SERVICE_URL") and raw:
            services[key.removesuffix("_SERVICE_URL").lower()] = raw
    merged["SERVICES"] = services
    merged.update(_as_dict(settings))
    return merged
