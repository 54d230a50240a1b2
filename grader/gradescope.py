"""Grade on Gradescope: the autograder zip (``gradescope-bundle``) and the command it runs.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build the image,
then for every submission copies the student's files into ``/autograder/submission``, runs
``run_autograder`` and reads ``/autograder/results/results.json``. The zip holds this repository
(the files git tracks), the hidden tests under ``hidden-tests/`` and the two scripts; grading
itself is the same ``grader.grade`` as on the instructor's machine (as root there, so every run
gets its own unprivileged account and network namespace).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from grader import grade, run, workspace

HIDDEN_IN_BUNDLE = "hidden-tests"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (Ubuntu).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends postgresql ca-certificates
if ! apt-get install -y -q --no-install-recommends python3.11 python3.11-venv; then
    apt-get install -y -q --no-install-recommends software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3.11 python3.11-venv
fi
cd /autograder/source
python3.11 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt -e '.[dev]'
# The image serves one submission at a time: local connections need no password.
for hba in /etc/postgresql/*/main/pg_hba.conf; do
    printf 'local all all trust\\nhost all all 127.0.0.1/32 trust\\nhost all all ::1/128 trust\\n' \\
        > "$hba"
done
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: /autograder/submission -> results/results.json.
set -uo pipefail
service postgresql start || pg_ctlcluster "$(ls /etc/postgresql | head -n1)" main start
for _ in $(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
cd /autograder/source
export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
exec .venv/bin/python -m grader gradescope{args}
"""


def _failure(results: Path, message: str) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    data = {"score": 0, "output": message, "tests": [], "execution_time": 0}
    results.write_text(json.dumps(data, indent=2) + "\n")


def main_run(
    root: Path,
    autograder: Path,
    labs: list[str] | None,
    hidden: Path | None,
    limits: run.Limits,
) -> int:
    """Grade ``<autograder>/submission`` and write ``<autograder>/results/results.json``."""
    submission = autograder / "submission"
    results = autograder / "results" / "results.json"
    if hidden is None and (root / HIDDEN_IN_BUNDLE).is_dir():
        hidden = root / HIDDEN_IN_BUNDLE
    if not submission.is_dir():
        _failure(results, f"The autograder found no submission folder ({submission}).")
        return 2
    out = Path(tempfile.mkdtemp(prefix="gradescope-"))
    settings = grade.Settings(
        root=root, labs=labs, hidden=hidden, limits=limits, progress=False, force=True
    )
    try:
        book = grade.grade(submission.parent, out, settings, entries=[submission])
    except grade.GradingError as exc:
        _failure(results, f"The autograder could not grade this submission: {exc}")
        return 2
    student = book.students[0].id
    results.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / student / "results.json", results)
    for problem in book.problems:  # the instructor sees this in the autograder's debug output
        print(f"PROBLEM: {problem}", file=sys.stderr)
    shutil.rmtree(out, ignore_errors=True)
    return 0


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


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
    files = workspace.tracked(root, exclude=[hidden] if hidden else [])
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        _add(archive, "setup.sh", SETUP_SH.encode(), 0o755)
        _add(archive, "run_autograder", RUN_AUTOGRADER.format(args=args).encode(), 0o755)
        for rel in files:
            if rel in ("setup.sh", "run_autograder"):
                continue
            _add(archive, rel, (root / rel).read_bytes())
        if hidden is not None:
            for path in sorted(p for p in hidden.rglob("*") if p.is_file()):
                if "__pycache__" in path.parts:
                    continue
                rel = path.relative_to(hidden).as_posix()
                _add(archive, f"{HIDDEN_IN_BUNDLE}/{rel}", path.read_bytes())
    print(f"wrote {out}: {len(files)} repository files" + (" + hidden tests" if hidden else ""))
    print("upload it as the assignment's autograder (Gradescope: Configure Autograder -> zip)")
    return 0
