"""What the lab notebooks share: serve apps from a cell, scratch databases, a lab's test progress.

Every notebook under ``notebooks/`` opens with::

    from grader import notebook as nb
    nb.setup()  # allows apps of the same name again: cells are rerun

    dsn = await nb.database("nb01", tables=True)  # a fresh database, dropped at the end
    url = await nb.start(app)  # the app on a free loopback port, in this kernel
    status, body = await nb.call("GET", url + "/users/1")
    await nb.lab("01")  # run pytest labs/01, show the tasks passed; never raises
    await nb.cleanup()  # stop every app, drop every database

``database`` also sets aside, in the kernel only, the environment variables that would override
the settings a notebook gives its apps (``DATABASE_URL``, ``<NAME>_SERVICE_URL``, ``ZIPKIN_URL``).

Apps run in the kernel's own event loop, which keeps running between cells, so a server started in
one cell answers in the next. Cells may be run again: ``start`` stops an earlier app of the same
name first. If a notebook stops half way, the kernel's exit drops its databases anyway (``atexit``).
One concept per module: ``kernel`` (setup), ``databases``, ``servers``, ``student`` (the student's
code plugged in), ``pool``, ``calls`` (HTTP), ``labtests`` (the "your turn" cell), ``traces``.
"""

from __future__ import annotations

from grader.labprogress import LabProgress, TaskProgress
from grader.manifest import REPO_ROOT
from grader.notebook.calls import call, show, timed_calls
from grader.notebook.databases import database, drop_databases
from grader.notebook.kernel import setup
from grader.notebook.labtests import lab
from grader.notebook.pool import Timeline, close_database, pool_timeline, quiet
from grader.notebook.servers import examples, start, start_in_thread, stop, stop_threads
from grader.notebook.student import StudentCode, student_code, undo_plugs
from grader.notebook.traces import Bar, waterfall

__all__ = [
    "REPO_ROOT",
    "Bar",
    "LabProgress",
    "StudentCode",
    "TaskProgress",
    "Timeline",
    "call",
    "cleanup",
    "close_database",
    "database",
    "drop_databases",
    "examples",
    "lab",
    "pool_timeline",
    "quiet",
    "setup",
    "show",
    "start",
    "start_in_thread",
    "stop",
    "student_code",
    "timed_calls",
    "undo_plugs",
    "waterfall",
]


async def cleanup() -> None:
    """Stop every app this kernel started, unplug the student's code, drop every database."""
    await stop()
    stop_threads()
    undo_plugs()
    await drop_databases()
