"""What is the grader's fault, not the student's: failed runs, an unusable database, leftovers.

A run that failed because PostgreSQL refused or was full, or because the grader or its sandbox
broke, says nothing about the student's code: ``reasons()`` names such failures so the batch runs
them again once, flags them ``infra`` and never caches them. ``check_database()`` refuses to start
a batch against a database that does not answer (one clear line, not a class of zeros), and
``sweep()`` removes what a grader killed with SIGKILL left behind: its temporary folder (a copy of
the solutions) and its databases and roles, each named with the grader's process id.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from sanic_ms.dsn import mask

TEMP_PREFIX = "sanic-ms-grade-"  # + "<pid>-": the batch's folder (pristine copy, workspaces)
DATABASE_PREFIX = "grade_"  # + "<pid>_<token>": a run's database and role (grader.grading.database)
CONFINE_FAILED = 111  # confine.py's exit status when it could not set the run up
# What a failed test, a collection error or the run's output says when the database, not the
# student's code, was the problem. Matched case-sensitively, as the drivers print them.
DATABASE_TROUBLE = re.compile(
    r"TooManyConnectionsError|too many clients already|remaining connection slots are reserved"
    r"|CannotConnectNowError|the database system is (?:starting up|shutting down|in recovery mode)"
    r"|DiskFullError|No space left on device|could not extend file"
    r"|AdminShutdownError|terminating connection due to administrator command"
    r"|\.s\.PGSQL\.\d+\S*\s*(?:failed: )?(?:Connection refused|No such file or directory)"
    r"|Connect call failed \('[^']*\.s\.PGSQL\.\d+'\)"
)


def reasons(result, grader_error: str | None = None) -> list[str]:
    """Why ``result`` (a :class:`~grader.grading.run.Run`) failed outside the student's code."""
    found = []
    if grader_error:
        found.append(f"grader error: {grader_error}")
    if result.returncode == CONFINE_FAILED and not result.collected:
        found.append("sandbox error: the run could not be confined (see the log)")
    failed = [t.message for t in result.tests.values() if t.status != "passed"]
    errors = [e.get("message", "") for e in result.collect_errors]
    if not failed and not errors and result.finished:
        return found  # every test passed: whatever the log says, the result stands
    texts = [*failed, *errors, result.log]
    for text in texts:
        match = DATABASE_TROUBLE.search(text or "")
        if match:
            found.append(f"database: {match.group(0)}")
            break
    return found


def check_database(dsn: str) -> str | None:
    """None when ``dsn`` answers and may create databases, else one line saying what is wrong."""
    import psycopg

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except Exception as exc:  # any driver error is the same news for the instructor
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the database at {mask(dsn)} does not answer: {first} (check DATABASE_URL)"
    if not row or not row[0]:
        return f"the role in {mask(dsn)} may not create databases (check DATABASE_URL)"
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def new_temp_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))


def sweep(dsn: str | None, temp: Path | None = None) -> list[str]:
    """Remove what dead graders left; one line per thing removed (for the instructor)."""
    removed = []
    temp = temp or Path(tempfile.gettempdir())
    pattern = re.compile(rf"{re.escape(TEMP_PREFIX)}(\d+)-")
    for path in sorted(temp.glob(f"{TEMP_PREFIX}*")):
        match = pattern.match(path.name)
        if match and path.is_dir() and not alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"folder {path}")
    if dsn:
        try:
            removed += _sweep_database(dsn)
        except Exception as exc:  # the check that follows says what is wrong with the database
            print(f"grader: could not look for leftover databases: {exc}", file=sys.stderr)
    return removed


def _sweep_database(dsn: str) -> list[str]:
    import psycopg
    from psycopg import sql

    pattern = re.compile(rf"{DATABASE_PREFIX}(\d+)_[0-9a-f]+$")

    def dead(name: str) -> bool:
        match = pattern.match(name)
        return bool(match) and not alive(int(match.group(1)))

    removed = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        like = DATABASE_PREFIX + "%"
        databases = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (like,))]  # fmt: skip
        roles = [r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (like,))]  # fmt: skip
        # Databases a dead run's role made under another name go with their owner.
        owned = conn.execute(
            "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON d.datdba = r.oid "
            "WHERE r.rolname LIKE %s",
            (like,),
        ).fetchall()
        doomed = [d for d in databases if dead(d)]
        doomed += [d for d, owner in owned if dead(owner) and d not in doomed]
        for name in doomed:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            removed.append(f"database {name}")
        for role in (r for r in roles if dead(r)):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            removed.append(f"role {role}")
    return removed
