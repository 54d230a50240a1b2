"""Grade on Gradescope: the autograder zip (``gradescope-bundle``) and the commands it runs.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build the image,
then for every submission copies the student's files into ``/autograder/submission``, runs
``run_autograder`` and reads ``/autograder/results/results.json``. The zip holds the files git
tracks (nothing untracked: a local ``submissions/`` or ``grades/`` would reach every student's
code), the hidden tests under ``hidden-tests/`` and the two scripts. ``setup.sh`` grades each
lab's solution once (``gradescope --prepare``) and keeps the runs in ``.grader-cache/``; grading
itself is the same ``grader.grading.grade`` as on the instructor's machine.

A grading that the grader, not the student, got wrong (no database, a solution that fails, a run
flagged ``infra``) writes no results.json and exits 1: Gradescope then shows the autograder as
failed, to be run again, instead of recording a zero. What the instructor needs to see goes to
stdout, which results.json hides from students. ``AUTOGRADER_ROOT`` moves ``/autograder`` (tests).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grader.grading import capacity, grade, reports, run, sandbox

HIDDEN_IN_BUNDLE = "hidden-tests"
CACHE_IN_BUNDLE = ".grader-cache"  # the solution's runs, made by setup.sh
UV = "uv==0.13.9"  # only when the image has no Python >= 3.11.5 (Ubuntu 22.04)
LOG_CHARS = 4000  # of each run's log printed for the instructor

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (Ubuntu 22.04 or later).
set -euo pipefail
AUTOGRADER="${AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends postgresql ca-certificates \\
    python3 python3-venv python3-pip
# The pinned set needs Python >= 3.11.5: test the version, not a package name (Ubuntu 22.04's
# python3.11 package is 3.11.0rc1).
good() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11, 5))' 2>/dev/null; }
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && good "$candidate"; then
        PYTHON="$(command -v "$candidate")"; break
    fi
done
if [ -z "$PYTHON" ]; then
    for package in python3.12 python3.11; do
        apt-get install -y -q --no-install-recommends "$package" "$package-venv" || continue
        if good "$package"; then PYTHON="$(command -v "$package")"; break; fi
    done
fi
if [ -z "$PYTHON" ]; then
    # A standalone CPython through uv (downloaded from GitHub, which Gradescope's builders reach).
    if python3 -m venv /opt/uv && /opt/uv/bin/pip install --disable-pip-version-check "{uv}" \
        && /opt/uv/bin/uv python install --install-dir /opt/python 3.12; then
        PYTHON="$(/opt/uv/bin/uv python find --no-project 3.12)"
    fi
fi
if [ -z "$PYTHON" ] && command -v python3.11 >/dev/null; then
    # Last resort: the grade extra itself asks only for Python >= 3.11 (the full dev set for more).
    echo "setup.sh: WARNING: no Python >= 3.11.5; grading with $(python3.11 -V)" >&2
    PYTHON="$(command -v python3.11)"
fi
if [ -z "$PYTHON" ]; then
    echo "setup.sh: no Python >= 3.11 could be installed" >&2
    exit 1
fi
echo "setup.sh: grading with $PYTHON ($("$PYTHON" -V))"
cd "$AUTOGRADER/source"
"$PYTHON" -m venv .venv
.venv/bin/pip install --disable-pip-version-check --upgrade pip
# Only what grading needs (no Jupyter); pip's errors stay visible in the build log.
.venv/bin/pip install --disable-pip-version-check -c constraints.txt -e '.[grade]'
# The image serves one submission at a time: local connections need no password.
for hba in /etc/postgresql/*/main/pg_hba.conf; do
    printf 'local all all trust\\nhost all all 127.0.0.1/32 trust\\nhost all all ::1/128 trust\\n' \\
        > "$hba"
done
service postgresql start || pg_ctlcluster "$(ls /etc/postgresql | head -n1)" main start
for _ in $(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
# Each lab's solution graded once, here: a build that cannot give it full marks fails now.
DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    .venv/bin/python -m grader gradescope --prepare --autograder "$AUTOGRADER"{args}
service postgresql stop || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: /autograder/submission -> results/results.json.
set -uo pipefail
AUTOGRADER="${AUTOGRADER_ROOT:-/autograder}"
if [ -z "${DATABASE_URL:-}" ]; then
    service postgresql start >/dev/null || pg_ctlcluster "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
fi
cd "$AUTOGRADER/source"
exec .venv/bin/python -m grader gradescope --autograder "$AUTOGRADER"{args}
"""


def _fail(results: Path, message: str) -> int:
    """No results.json: Gradescope shows the autograder as failed (run it again), never a 0."""
    results.unlink(missing_ok=True)
    print(f"AUTOGRADER FAILED: {message}")
    print(f"autograder failed: {message}", file=sys.stderr)
    return 1


def _settings(root: Path, labs, hidden, limits: run.Limits, jobs: int) -> grade.Settings:
    if hidden is None and (root / HIDDEN_IN_BUNDLE).is_dir():
        hidden = root / HIDDEN_IN_BUNDLE
    return grade.Settings(
        root=root,
        labs=labs,
        hidden=hidden,
        limits=limits,
        jobs=jobs,
        progress=False,
        force=True,  # a fresh output folder per submission: nothing to reuse but the solution's
        reference_cache=root / CACHE_IN_BUNDLE,
    )


def main_prepare(root: Path, labs, hidden, limits: run.Limits, jobs: int) -> int:
    """At setup: grade every lab's solution once and cache the runs for every submission."""
    settings = _settings(root, labs, hidden, limits, jobs)
    out = Path(tempfile.mkdtemp(prefix="gradescope-prepare-"))
    try:
        grade.grade(out, out, settings, entries=[], reference_only=True)
    except grade.GradingError as exc:
        print(f"gradescope --prepare: {exc}", file=sys.stderr)
        for log in sorted((out / reports.LOGS).rglob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-LOG_CHARS:]}")
        return 1
    finally:
        sandbox.remove_tree(out)
    print(f"gradescope --prepare: solutions graded and cached in {root / CACHE_IN_BUNDLE}")
    return 0


def main_run(
    root: Path,
    autograder: Path,
    labs: list[str] | None,
    hidden: Path | None,
    limits: run.Limits,
    jobs: int = 0,
) -> int:
    """Grade ``<autograder>/submission`` and write ``<autograder>/results/results.json``."""
    started = time.monotonic()
    submission = autograder / "submission"
    results = autograder / "results" / "results.json"
    if not submission.is_dir():
        return _fail(results, f"no submission folder ({submission})")
    settings = _settings(root, labs, hidden, limits, jobs)
    print(f"grader: {capacity.describe()}" if not jobs else f"grader: --jobs {jobs}")
    out = Path(tempfile.mkdtemp(prefix="gradescope-"))
    try:
        try:
            book = grade.grade(submission.parent, out, settings, entries=[submission])
        except grade.GradingError as exc:
            for log in sorted((out / reports.LOGS).rglob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-LOG_CHARS:]}")
            return _fail(results, str(exc))
        student = book.students[0]
        print(f"runs made: {book.runs} (the solution's come from setup's cache when it matches)")
        _print_for_instructor(book, student, out)
        infra = [lab.lab_id for lab in student.labs.values() if "infra" in lab.flags]
        if infra:
            return _fail(results, f"lab(s) {', '.join(infra)} failed for the grader's reasons")
        data = reports.results_json(student)
        data["execution_time"] = round(time.monotonic() - started)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(data, indent=2) + "\n")
        return 0
    finally:
        sandbox.remove_tree(out)


def _print_for_instructor(book: grade.Gradebook, student: grade.StudentResult, out: Path) -> None:
    """stdout: hidden from students by results.json's ``stdout_visibility``."""
    print(f"total {student.score:g} / {student.max_score:g}  flags: {student.all_flags() or '-'}")
    for line in book.isolation:
        print(f"confinement: {line}")
    for lab in student.labs.values():
        print(f"lab {lab.lab_id}: {lab.score:g} / {lab.max_score:g} in {lab.seconds:g} s")
        for note in lab.instructor_notes:
            print(f"  {note}")
        log = out / reports.LOGS / student.id / f"lab_{lab.lab_id}.log"
        if log.is_file():
            print(f"--- log of lab {lab.lab_id} (last {LOG_CHARS} characters)")
            print(log.read_text(errors="replace")[-LOG_CHARS:])


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _git(root: Path, *args: str) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", *args], capture_output=True, check=True
    )
    return sorted(n for n in done.stdout.decode("utf-8", "surrogateescape").split("\0") if n)


def main_bundle(root: Path, out: Path, labs: list[str] | None, hidden: Path | None) -> int:
    """Write the zip to upload as the assignment's autograder."""
    args = ""
    if labs:
        args += " --labs " + shlex.quote(",".join(labs))
    if hidden is not None:
        if not hidden.is_dir():
            print(f"gradescope-bundle: {hidden} is not a folder", file=sys.stderr)
            return 2
        args += f" --hidden-tests {HIDDEN_IN_BUNDLE}"
    try:
        files = [rel for rel in _git(root, "--cached") if (root / rel).is_file()]
        untracked = _git(root, "--others", "--exclude-standard")
    except (OSError, subprocess.CalledProcessError):
        print(
            f"gradescope-bundle: {root} is not a git checkout; only the files git tracks go "
            "into the bundle (run it from a clone)",
            file=sys.stderr,
        )
        return 2
    if hidden is not None:
        try:
            inside = hidden.resolve().relative_to(root.resolve()).as_posix() + "/"
        except ValueError:
            inside = None
        if inside:
            files = [rel for rel in files if not rel.startswith(inside)]
            untracked = [rel for rel in untracked if not rel.startswith(inside)]
    if untracked:
        shown = ", ".join(untracked[:10]) + (
            f" and {len(untracked) - 10} more" if len(untracked) > 10 else ""
        )
        print(
            f"gradescope-bundle: warning: {len(untracked)} untracked file(s) left out of the "
            f"bundle: {shown} (commit them, or ignore them in .gitignore)",
            file=sys.stderr,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        _add(
            archive,
            "setup.sh",
            SETUP_SH.replace("{uv}", UV).replace("{args}", args).encode(),
            0o755,
        )
        _add(archive, "run_autograder", RUN_AUTOGRADER.replace("{args}", args).encode(), 0o755)
        for rel in files:
            if rel in ("setup.sh", "run_autograder") or rel.startswith(CACHE_IN_BUNDLE + "/"):
                continue
            _add(archive, rel, (root / rel).read_bytes())
        if hidden is not None:
            for path in sorted(p for p in hidden.rglob("*") if p.is_file()):
                if "__pycache__" in path.parts:
                    continue
                rel = path.relative_to(hidden).as_posix()
                _add(archive, f"{HIDDEN_IN_BUNDLE}/{rel}", path.read_bytes())
    print(f"wrote {out}: {len(files)} tracked files" + (" + hidden tests" if hidden else ""))
    print("upload it as the assignment's autograder (Gradescope: Configure Autograder -> zip)")
    return 0
