"""The grader's pytest plugin in a graded run: signed outcomes, with keys it never keeps.

The grader loads this file with ``-p`` (so it is imported before any conftest or student code) and
hands it, through the environment variable ``GRADER_HARNESS`` = ``"<keyfd>:<outfd>:<sentinel>"``:

- a pipe the grader filled with one 32-byte key per record (derived from a master key that never
  leaves the grader). Each record reads its own key, signs itself and drops the key: there is no
  key in any module global, closure or object for student code to find between records. Code that
  reads keys from the pipe itself shifts every later record onto the wrong key, which the grader
  sees as forged;
- a file descriptor to append records to (its file is outside the run's jail);
- the file name of the grader's sentinel tests. They look like the lab's own (names, file, task
  marker) and run at random places among them, after the first.

Each record is one line: JSON, a space, and the HMAC-SHA256 of the JSON under that record's key.
Records come only from the process that loaded the plugin (a fork inherits the descriptors but
never reports). Before every record and at the end the plugin checks that nothing it relies on
changed since import: pytest's report classes (descriptors included), runner and hook calling,
pluggy, and this module's own functions (code, defaults, closure cells, the module's namespace);
that every hook implementation comes from pytest, an installed plugin, a conftest, the lab plugin
(``grader/labplugin``) or the lab's tests; and it reads a report's outcome from the report's own
``__dict__``, past any descriptor.
Anything changed is reported, and the grader scores the lab 0 (``integrity``).

Standard library and pytest only: the grader copies this file into each jail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import sys
import time

import _pytest.python
import _pytest.reports
import _pytest.runner
import pluggy
import pluggy._callers
import pluggy._hooks
import pytest

ENV = "GRADER_HARNESS"
MESSAGE_LIMIT = 6000  # characters of a failure kept in a record; the grader trims further
KEY_SIZE = 32
REPLACED = "the results descriptor (something else was put behind it)"

# Hooks whose implementations decide or carry a test's outcome.
OUTCOME_HOOKS = (
    "pytest_runtest_protocol",
    "pytest_runtest_setup",
    "pytest_runtest_call",
    "pytest_runtest_teardown",
    "pytest_runtest_makereport",
    "pytest_runtest_logreport",
    "pytest_report_teststatus",
    "pytest_pyfunc_call",
    "pytest_collection_modifyitems",
    "pytest_sessionfinish",
)
WATCHED_CLASSES = (
    _pytest.reports.BaseReport,
    _pytest.reports.TestReport,
    _pytest.reports.CollectReport,
    _pytest.runner.CallInfo,
    pluggy._hooks.HookCaller,
    pluggy._hooks.HookImpl,
    pluggy.PluginManager,
)
WATCHED_MODULES = (_pytest.runner, _pytest.reports, _pytest.python, pluggy._callers)
# Checked before every test record (the rest of the watched namespaces: see tampered()).
PER_REPORT = frozenset({"BaseReport", "TestReport", "_grader_harness"})
# pytest itself sets attributes on Function at run time: only these of its methods are watched.
WATCHED_METHODS = ((_pytest.python.Function, ("runtest", "setup", "_getobj")),)


class _Attributes:
    """Some attributes of a class, read afresh each time, as a namespace."""

    def __init__(self, cls, names):
        self.cls, self.names = cls, names

    def items(self):
        return [(name, self.cls.__dict__.get(name)) for name in self.names]


def _build():
    """Everything the hooks use, captured now, before any student code runs, in closures only:
    replacing a module attribute afterwards changes nothing the hooks call."""
    here = os.path.realpath(__file__)
    realpath, basename = os.path.realpath, os.path.basename
    classmethod_, staticmethod_, property_, type_of = classmethod, staticmethod, property, type

    def fingerprint(value, seen=None):
        """What must stay the same about one attribute: the object itself and, for a function (or
        a descriptor made of functions), its code, defaults and closure cells; for this module's
        own functions, the same of every function in their closures, all the way down."""
        seen = set() if seen is None else seen
        parts = [value]
        inner = [value]
        if isinstance(value, (classmethod_, staticmethod_)):
            inner = [value.__func__]
        elif isinstance(value, property_):
            inner = [value.fget, value.fset, value.fdel]
        for func in inner:
            code = getattr(func, "__code__", None) if callable(func) else None
            if code is None or id(func) in seen:
                continue
            seen.add(id(func))
            parts += [func, code, func.__defaults__, func.__kwdefaults__]
            for cell in func.__closure__ or ():
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell
                    contents = None
                parts.append(contents)
                if code.co_filename == __file__ and callable(contents):
                    parts += fingerprint(contents, seen)
        return tuple(parts)

    def snapshot(namespaces):
        seen = set()  # a function shared by several hooks is fingerprinted once, under the first
        return {
            (label, name): fingerprint(value, seen)
            for label, namespace in namespaces
            for name, value in list(namespace.items())
        }

    def changed(before, namespaces):
        now = snapshot(namespaces)
        labels = {label for label, _ in namespaces}
        names = set()
        for key in {k for k in before if k[0] in labels} | now.keys():
            old, new = before.get(key), now.get(key)
            if old is None or new is None or len(old) != len(new):
                names.add(f"{key[0]}.{key[1]}")
            elif any(a is not b for a, b in zip(old, new, strict=True)):
                names.add(f"{key[0]}.{key[1]}")
        return sorted(names)

    getpid, read, write, fstat, dumps, hmac_new, sha256, sleep = (
        os.getpid,
        os.read,
        os.write,
        os.fstat,
        json.dumps,
        hmac.new,
        hashlib.sha256,
        time.sleep,
    )
    report_dict = _pytest.reports.BaseReport.__dict__["__dict__"].__get__
    longreprtext = _pytest.reports.BaseReport.__dict__["longreprtext"].fget
    test_report = _pytest.reports.TestReport
    shuffle_at = random.SystemRandom().randrange
    config = os.environ.pop(ENV, None)
    key_fd = out_fd = out_spare = out_file = None
    sentinel = ""
    if config:
        key_fd_text, out_fd_text, sentinel = config.split(":", 2)
        key_fd, out_fd = int(key_fd_text), int(out_fd_text)
        for fd in (key_fd, out_fd):
            os.set_inheritable(fd, False)  # a subprocess (lab 06 runs pytest itself) gets neither
        # Which file the results go to, and a second descriptor to it: code that puts something
        # else behind out_fd (os.dup2) to hide the harness's records is reported through this one.
        out_file = (fstat(out_fd).st_dev, fstat(out_fd).st_ino)
        out_spare = os.dup(out_fd)
    pid = getpid()
    seq = [0]
    state = {"pm": None, "tampered": [], "watched": None, "checks": 0}
    allowed_roots = tuple(
        realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}
    )

    def emit(record):
        if out_fd is None or getpid() != pid:
            return
        target = out_fd
        try:
            replaced = (fstat(out_fd).st_dev, fstat(out_fd).st_ino) != out_file
        except OSError:
            replaced = True
        if replaced:
            target = out_spare
            if REPLACED not in state["tampered"]:
                state["tampered"].append(REPLACED)
            record = {**record, "tampered": list(state["tampered"])}
        record = {"seq": seq[0], "pid": pid, **record}
        seq[0] += 1
        data = dumps(record, sort_keys=True).encode()
        key = b""
        while len(key) < KEY_SIZE:
            chunk = read(key_fd, KEY_SIZE - len(key))
            if not chunk:
                break
            key += chunk
        signature = (
            hmac_new(key, data, sha256).hexdigest().encode() if len(key) == KEY_SIZE else b"-"
        )
        del key
        line = data + b" " + signature + b"\n"
        while line:
            line = line[write(target, line) :]

    real = {}

    def alien_hooks():
        """Hook implementations from anywhere but pytest, plugins, conftests or the lab's tests."""
        pm = state["pm"]
        if pm is None:
            return []
        found = []
        for name in OUTCOME_HOOKS:
            for impl in getattr(pm.hook, name).get_hookimpls():
                code = getattr(impl.function, "__code__", None)
                filename = real.get(code.co_filename) if code else "?"
                if filename is None:  # a system call per new file, not per record
                    filename = real[code.co_filename] = realpath(code.co_filename)
                if filename.startswith(allowed_roots) or filename == here:
                    continue
                if basename(filename) == "conftest.py" or "/tests/" in filename:
                    continue
                if "/grader/labplugin/" in filename:  # the labs' plugin (labs/conftest.py's)
                    continue
                found.append(f"hook {name} from {filename}")
        return found

    def tampered(everything=False):
        """What changed since import (the first time it is seen, it is also recorded). Per test
        report: the report classes, this module and the hooks (about a millisecond); all the
        watched modules and classes at the start, every 20th report and at the end."""
        watched = state["watched"]
        state["checks"] += 1
        if watched and not everything and state["checks"] % 20:
            namespaces = [(label, ns) for label, ns in watched[1] if label in PER_REPORT]
        else:
            namespaces = watched[1] if watched else []
        names = changed(watched[0], namespaces) + alien_hooks() if watched else []
        new = [n for n in names if n not in state["tampered"]]
        state["tampered"] += new
        return list(state["tampered"])

    def outcome_of(report):
        """A report's fields from its own ``__dict__``: a class-level descriptor cannot lie."""
        fields = report_dict(report)
        problems = [] if type_of(report) is test_report else ["a report of a foreign class"]
        return fields, problems

    def message(report):
        try:
            text = longreprtext(report)
        except Exception:
            text = repr(report_dict(report).get("longrepr"))
        return text[-MESSAGE_LIMIT:]

    def task_of(item):
        marker = item.get_closest_marker("task")
        if marker is None:
            return None
        value = (
            marker.args[0] if marker.args else marker.kwargs.get("taskno", marker.kwargs.get("n"))
        )
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def park_forks():
        """Stop here for good if this is a fork of the student's code that fell back into pytest.

        Such a copy (a fork bomb's, say) must not report, nor run the remaining tests as a second
        session, nor exit: an exit frees its slot under the process limit and the bomb goes on.
        Parked, the bomb soon hits the limit and stops; the grader kills what is parked at the end.
        """
        if getpid() != pid:
            while True:
                sleep(3600)

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(config):
        # Before any test module (and so any student code) is imported: conftests are pristine.
        state["watched"] = watched()
        state["pm"] = config.pluginmanager
        if sentinel:
            # Collected with the lab's own tests whatever the lab's python_files patterns are.
            config.addinivalue_line("python_files", sentinel)

    def pytest_collectreport(report):
        if report.failed:
            emit({"kind": "collect_error", "nodeid": report.nodeid, "message": message(report)})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(items):
        # The sentinels go to random places: nothing about their position tells them apart.
        if sentinel:
            chosen = [item for item in items if item.path.name == sentinel]
            rest = [item for item in items if item.path.name != sentinel]
            for item in chosen:
                # Never first: a lab that loads the student's file in its first test (rather
                # than at import) has it loaded, with whatever it patches, before any sentinel.
                rest.insert(shuffle_at(1, len(rest) + 1) if rest else 0, item)
            items[:] = rest

    def pytest_collection_finish(session):
        items = [
            {"nodeid": item.nodeid, "task": task_of(item), "file": item.path.name}
            for item in session.items
        ]
        emit({"kind": "collected", "items": items, "tampered": tampered(everything=True)})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(item, nextitem):
        park_forks()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(item, call):
        park_forks()  # before pytest spends a second of CPU formatting the copy's traceback
        return (yield)

    def pytest_runtest_logreport(report):
        fields, problems = outcome_of(report)
        record = {
            "kind": "test",
            "nodeid": str(fields["_id"]) if "_id" in fields else fields.get("nodeid"),
            "when": fields.get("when"),
            "outcome": fields.get("outcome"),
            "xfail": bool(fields.get("wasxfail", False)),
            "duration": round(float(fields.get("duration") or 0), 4),
            "tampered": tampered() + problems,
        }
        if record["outcome"] != "passed":
            record["message"] = message(report)
        emit(record)

    def pytest_sessionfinish(session, exitstatus):
        emit(
            {"kind": "finish", "exitstatus": int(exitstatus), "tampered": tampered(everything=True)}
        )

    def watched():
        namespaces = (
            [(cls.__qualname__, cls.__dict__) for cls in WATCHED_CLASSES]
            + [(m.__name__, m.__dict__) for m in WATCHED_MODULES]
            + [(__name__, sys.modules[__name__].__dict__)]
            + [(cls.__qualname__, _Attributes(cls, names)) for cls, names in WATCHED_METHODS]
        )
        return snapshot(namespaces), namespaces

    hooks = {
        f.__name__: f
        for f in (
            pytest_configure,
            pytest_collectreport,
            pytest_collection_modifyitems,
            pytest_collection_finish,
            pytest_runtest_protocol,
            pytest_runtest_makereport,
            pytest_runtest_logreport,
            pytest_sessionfinish,
        )
    }
    emit({"kind": "start"})
    return hooks


globals().update(_build())
