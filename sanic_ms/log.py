"""JSON logging from ``logging.yml``, and the ``@logger`` decorator for async functions."""

from __future__ import annotations

import functools
import inspect
import logging
import logging.config
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TextIO, TypeVar

import yaml
from sanic.request import Request

from .tracing.context import current_ids
from .tracing.spans import NOT_RECORDED, local_span

log = logging.getLogger("sanic_ms")

P = ParamSpec("P")
R = TypeVar("R")

_configured: str | None = None


def setup_logging(path: str | Path, level: str | None = None) -> None:
    """Configure logging from a YAML file (``yaml.safe_load``), once per process and file.

    It changes ``logging``'s process-wide state, so ``create_app`` calls it; importing
    ``sanic_ms`` leaves logging as it was.
    """
    global _configured
    path = str(path)
    if _configured == path:
        return
    with open(path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    logging.config.dictConfig(config)
    # Our lines carry no file, line, thread or process fields: skip collecting them for every
    # record (the stdlib's own advice for fast logging); this is most of a log line's cost.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if level:
        logging.getLogger("sanic_ms").setLevel(level.upper())
    _configured = path


class LineHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes each record as its formatter made it: one line, always.

    The ``sanic`` command loads tracerite, which replaces ``logging.StreamHandler.emit`` to draw
    records carrying an exception as multi-line boxes. An ``emit`` of our own is looked up first,
    so whatever launches the service, a JSON line stays one line (the traceback in a field).
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class ContextFilter(logging.Filter):
    """Add ``trace_id`` and ``span_id`` to every record written while a request is traced."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        return True


def _find_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Request):
            return value
    return None


def _is_route_handler(request: Request, wrapper: Callable[..., Any]) -> bool:
    """Whether ``wrapper`` is the handler of the route serving ``request`` (maybe wrapped once
    more by ``sanic_ms.middleware.wrap_handler``)."""
    route = request.route
    if route is None:
        return False
    handler = route.handler
    return handler is wrapper or getattr(handler, "__wrapped__", None) is wrapper


def logger(
    type: str = "method",
    category: str | None = None,
    detail: str | None = None,
    description: str | None = None,
    tracing: bool = True,
    level: int = logging.INFO,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Log each call of an async function: what it is, how long it took, and how it ended.

    ``category`` defaults to the app's name (taken from a ``request`` argument), ``description``
    to the first line of the function's docstring. ``tracing=True`` also records a span for the
    call when tracing is on. Failures are logged at ERROR and re-raised.
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@logger decorates async functions; {fn.__qualname__} is not one")
        desc = description or (inspect.getdoc(fn) or "").partition("\n")[0] or fn.__qualname__
        span_name = fn.__qualname__
        fields = {"type": type, "detail": detail, "description": desc, "function": fn.__qualname__}

        @functools.wraps(fn)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            request = _find_request(args, kwargs)
            # A local span per call, child of the active span; the log line is written inside it.
            # Not for the route handler itself: the request's SERVER span already covers it.
            span = NOT_RECORDED
            if tracing and not (request is not None and _is_route_handler(request, call)):
                span = local_span(span_name)
            with span:
                if not log.isEnabledFor(min(level, logging.ERROR)):
                    return await fn(*args, **kwargs)
                cat = category or (request.app.name if request is not None else fn.__module__)
                start = time.perf_counter()
                try:
                    result = await fn(*args, **kwargs)
                except Exception as exc:
                    log.error(
                        "%s failed: %s",
                        fn.__qualname__,
                        exc,
                        exc_info=exc,
                        extra={
                            **fields,
                            "category": cat,
                            "outcome": "error",
                            "duration_ms": _ms(start),
                        },
                    )
                    raise
                if log.isEnabledFor(level):
                    extra = {**fields, "category": cat, "outcome": "ok", "duration_ms": _ms(start)}
                    log.log(level, desc, extra=extra)
                return result

        # What @logger was given, kept on the function for introspection (a debugger, a test);
        # the type functools.wraps returns declares no such attribute.
        call.__sanic_ms_logger__ = {  # type: ignore[attr-defined]
            **fields,
            "category": category,
            "tracing": tracing,
        }
        return call

    return decorate


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
