"""The grader's pytest plugin in a graded run: signed outcomes on a channel stdout cannot fake.

The grader loads this file with ``-p`` (so it is imported before any conftest or student code) and
hands it, through the environment variable ``GRADER_HARNESS`` = ``"<keyfd>:<outfd>:<sentinel>"``:

- a pipe holding a fresh random key, read and closed here at import;
- a file descriptor to append result records to (the file sits in a directory the student's user
  cannot open, so only this descriptor reaches it);
- the file name of the grader's sentinel tests, which this plugin runs first.

Each record is one line: JSON, a space, and the HMAC-SHA256 of the JSON under the key. The grader
drops any line whose signature is wrong and flags the run. Records come only from the process that
loaded the plugin (a forked child of student code inherits the descriptor but not the right to use
it). The student's code runs in this same process, so none of this is a sandbox against code that
goes looking for the key in memory: it stops forged files, printed summaries and writes to stray
descriptors, and the sentinels plus the tamper check below catch blanket patches of pytest.

Standard library and pytest only: the grader copies this file next to a graded workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

import _pytest.python
import _pytest.reports
import _pytest.runner
import pluggy._callers
import pytest

ENV = "GRADER_HARNESS"
MESSAGE_LIMIT = 6000  # characters of a failure kept in a record; the grader trims further

# Bound now, before student code can rebind the module attributes.
_write, _getpid, _dumps, _hmac_new, _sha256 = (
    os.write,
    os.getpid,
    json.dumps,
    hmac.new,
    hashlib.sha256,
)

# pytest internals a blanket "everything passed" patch would have to replace.
_WATCHED = {
    "_pytest.runner.call_and_report": (_pytest.runner, "call_and_report"),
    "_pytest.runner.runtestprotocol": (_pytest.runner, "runtestprotocol"),
    "_pytest.runner.call_runtest_hook": (_pytest.runner, "call_runtest_hook"),
    "_pytest.runner.pytest_runtest_makereport": (_pytest.runner, "pytest_runtest_makereport"),
    "_pytest.runner.CallInfo.from_call": (_pytest.runner.CallInfo, "from_call"),
    "_pytest.reports.TestReport.__init__": (_pytest.reports.TestReport, "__init__"),
    "_pytest.reports.TestReport.from_item_and_call": (
        _pytest.reports.TestReport,
        "from_item_and_call",
    ),
    "_pytest.python.Function.runtest": (_pytest.python.Function, "runtest"),
    "_pytest.python.pytest_pyfunc_call": (_pytest.python, "pytest_pyfunc_call"),
    "pluggy._callers._multicall": (pluggy._callers, "_multicall"),
}
_ORIGINAL = {name: owner.__dict__.get(attr) for name, (owner, attr) in _WATCHED.items()}


def _open_channel():
    config = os.environ.pop(ENV, None)
    if not config:
        return None
    key_fd, out_fd, sentinel = config.split(":", 2)
    key_fd, out_fd = int(key_fd), int(out_fd)
    key = b""
    while chunk := os.read(key_fd, 64):
        key += chunk
    os.close(key_fd)
    pid = _getpid()
    state = {"seq": 0}

    def emit(record: dict) -> None:
        if _getpid() != pid:
            return
        record = {"seq": state["seq"], "pid": pid, **record}
        state["seq"] += 1
        data = _dumps(record, sort_keys=True).encode()
        signature = _hmac_new(key, data, _sha256).hexdigest().encode()
        line = data + b" " + signature + b"\n"
        while line:
            line = line[_write(out_fd, line) :]

    return emit, sentinel


_channel = _open_channel()
_emit = _channel[0] if _channel else (lambda record: None)
_SENTINEL = _channel[1] if _channel else ""
del _channel

_emit({"kind": "start"})
_PID = _getpid()
_sleep = time.sleep


def _task(item) -> int | None:
    marker = item.get_closest_marker("task")
    if marker is None:
        return None
    value = marker.args[0] if marker.args else marker.kwargs.get("taskno", marker.kwargs.get("n"))
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(report) -> str:
    try:
        text = report.longreprtext
    except Exception:
        text = repr(report.longrepr)
    return text[-MESSAGE_LIMIT:]


def pytest_configure(config) -> None:
    if _SENTINEL:
        # Collected with the lab's own tests whatever the lab's python_files patterns are.
        config.addinivalue_line("python_files", _SENTINEL)


def pytest_collectreport(report) -> None:
    if report.failed:
        _emit({"kind": "collect_error", "nodeid": report.nodeid, "message": _message(report)})


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items) -> None:
    # Sentinels first: a run cut short still has them, and they run after the student's code loaded.
    if _SENTINEL:
        items.sort(key=lambda item: item.path.name != _SENTINEL)


def pytest_collection_finish(session) -> None:
    items = [
        {"nodeid": item.nodeid, "task": _task(item), "file": item.path.name}
        for item in session.items
    ]
    _emit({"kind": "collected", "items": items})


def _park_forks() -> None:
    """Stop here for good if this is a fork of the student's code that fell back into pytest.

    Such a copy (a fork bomb's, say) must not report, nor run the remaining tests as a second
    session, nor exit: an exit frees its slot under the process limit and the bomb goes on.
    Parked, the bomb soon hits the limit and stops; the grader kills what is parked at the end.
    """
    if _getpid() != _PID:
        while True:
            _sleep(3600)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem) -> None:
    _park_forks()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    _park_forks()  # before pytest spends a second of CPU formatting the copy's traceback
    return (yield)


def pytest_runtest_logreport(report) -> None:
    record = {
        "kind": "test",
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "xfail": bool(getattr(report, "wasxfail", False)),
        "duration": round(report.duration, 4),
    }
    if report.failed or report.skipped:
        record["message"] = _message(report)
    _emit(record)


def pytest_sessionfinish(session, exitstatus) -> None:
    tampered = sorted(
        name
        for name, (owner, attr) in _WATCHED.items()
        if owner.__dict__.get(attr) is not _ORIGINAL[name]
    )
    _emit({"kind": "finish", "exitstatus": int(exitstatus), "tampered": tampered})
