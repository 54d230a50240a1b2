"""The cheap path of a JSON log line: real ``logging`` records, made and formatted with less work.

``@logger`` writes a line per call, so per request: ``emit`` makes the same ``LogRecord`` the
stdlib's ``Logger.log`` would (from a per-logger copy of the fields that never change) and hands
it to ``Logger.handle``, so filters, handlers and ``caplog`` see exactly what they always saw.
``JsonFormatter`` is python-json-logger's orjson formatter with the same output; a line without
an exception or stack skips its generic field merging.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.orjson import OrjsonFormatter

_UTC = UTC
_CREATED = ("created", "msecs", "relativeCreated")
_templates: dict[str, dict[str, Any]] = {}
_START: float = getattr(logging, "_startTime")  # noqa: B009  (private, not in the stubs)


def _plain_records() -> bool:
    """Whether a record needs nothing per call beyond its time (what ``setup_logging`` sets)."""
    return (
        logging._srcfile is None  # no caller lookup
        and not logging.logThreads
        and not logging.logProcesses
        and not logging.logMultiprocessing
        and not getattr(logging, "logAsyncioTasks", False)
        and logging.getLogRecordFactory() is logging.LogRecord
    )


def emit(
    logger: logging.Logger,
    level: int,
    msg: str,
    args: tuple[Any, ...],
    extra: dict[str, Any],
    exc_info: Any = None,
) -> None:
    """``logger.log(level, msg, *args, extra=extra, exc_info=exc_info)``, for less.

    The caller has checked ``logger.isEnabledFor(level)``.
    """
    if exc_info is not None or not _plain_records():
        logger.log(level, msg, *args, exc_info=exc_info, extra=extra)
        return
    template = _templates.get(logger.name)
    if template is None:
        # One real record, made the stdlib's way: every field that does not change per call.
        proto = logger.makeRecord(logger.name, level, "(unknown file)", 0, "", (), None)
        template = _templates[logger.name] = {
            k: v for k, v in proto.__dict__.items() if k not in _CREATED
        }
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = record.__dict__
    fields.update(template)
    created = time.time()
    fields["created"] = created
    fields["msecs"] = int((created - int(created)) * 1000) + 0.0
    fields["relativeCreated"] = (created - _START) * 1000
    fields["levelno"] = level
    fields["levelname"] = logging.getLevelName(level)
    fields["msg"] = msg
    fields["args"] = args
    for key in extra:
        if key in ("message", "asctime") or key in fields:
            raise KeyError(f"Attempt to overwrite {key!r} in LogRecord")
    fields.update(extra)
    logger.handle(record)


class JsonFormatter(OrjsonFormatter):
    """python-json-logger's orjson formatter, the same lines for about half the work.

    A record with an exception, a stack or a dict message, or a formatter configured with
    defaults, static fields, ``asctime`` or renamed extra fields, goes the generic way.
    """

    _plan: tuple[tuple[tuple[str, str], ...], frozenset[str], str | None] | None = None
    _generic = False

    def _fast_plan(self) -> tuple[tuple[tuple[str, str], ...], frozenset[str], str | None] | None:
        if self.defaults or self.static_fields or self.rename_fields_keep_missing:
            return None
        required = list(self._required_fields)
        if "asctime" in required or not set(self.rename_fields) <= self._skip_fields:
            return None
        rename = self.rename_fields
        fields = tuple((f, rename.get(f, f)) for f in required)
        timestamp = None
        if self.timestamp:
            key = self.timestamp if isinstance(self.timestamp, str) else "timestamp"
            timestamp = rename.get(key, key)
        return fields, frozenset(self._skip_fields), timestamp

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info or isinstance(record.msg, dict):
            return str(super().format(record))
        plan = self._plan
        if plan is None:
            plan = self._plan = self._fast_plan() or ((), frozenset(), None)
            self._generic = not plan[0]
        if self._generic:
            return str(super().format(record))
        fields, skip, timestamp = plan
        record.message = record.getMessage()
        values = record.__dict__
        data = {out: values.get(name) for name, out in fields}
        for key, value in values.items():
            if key not in skip and not (type(key) is str and key[:1] == "_"):
                data[key] = value
        if timestamp is not None:
            data[timestamp] = datetime.fromtimestamp(record.created, tz=_UTC)
        return self.prefix + str(self.jsonify_log_record(data))
