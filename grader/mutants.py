"""Mutation testing of the labs: plant each mistake the manifest lists in a copy of the solution and
require the lab's tests to catch it, in time, with a message that says what is wrong.

A mistake (``[[labs.NN.mutations]]``: a name, a task, a ``find`` / ``replace`` pair on one student
file) is *caught* when the lab's tests of that task, run on the solution with the mistake planted
(as a student's ``labs/NN`` would hold it), finish within the time limit and at least one of them
fails with a message that is more than a bare ``assert`` (an explanation, ``pytest.fail``, an
exception that names the problem). Each mutant runs in its own copy of ``labs/`` and ``grader/``,
through the grader's own harness, like a student's run.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader import manifest, run

# What a mutant's run needs besides the installed framework (sanic_ms, examples): the labs with
# their conftest, the grader package they import, lab 00's bench module, pytest's settings.
COPIED_FOLDERS = ("labs", "grader", "bench")
COPIED_FILES = ("pyproject.toml", "conftest.py")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
MUTANT_TIMEOUT = 90.0  # seconds for one mutant's run (its tests are bounded per phase too)
BARE_ASSERT = re.compile(r"^E\s+(AssertionError: )?assert\b")


@dataclass
class Verdict:
    lab_id: str
    mutation: manifest.Mutation
    status: str  # "caught", "escaped", "unclear" (bare asserts only), "hung", "stale"
    seconds: float = 0.0
    detail: str = ""

    @property
    def caught(self) -> bool:
        return self.status == "caught"

    def problem(self) -> str:
        m = self.mutation
        what = {
            "escaped": "no test of the task fails",
            "unclear": "only bare asserts fail (say what is wrong in the message)",
            "hung": f"the tests did not finish within {MUTANT_TIMEOUT:g} s",
            "stale": "its `find` text does not occur exactly once in the solution",
        }[self.status]
        return (
            f"lab {self.lab_id} mutation {m.name!r} (task {m.task}: {m.why or m.name}): {what}"
            + (f". {self.detail}" if self.detail else "")
        )


def bare_assert(message: str) -> bool:
    """Whether a failure says no more than ``assert x == y`` (pytest's ``E`` lines start so)."""
    first = next((line for line in message.splitlines() if line.startswith("E ")), None)
    return first is not None and bool(BARE_ASSERT.match(first))


def mutate(source: str, mutation: manifest.Mutation) -> str | None:
    """The solution's text with the mistake planted, or None when ``find`` is not there once."""
    if source.count(mutation.find) != 1:
        return None
    return source.replace(mutation.find, mutation.replace, 1)


def template(root: Path, base: Path) -> Path:
    """One copy of what every mutant's workspace shares; mutants link to it."""
    dest = base / "template"
    dest.mkdir(parents=True)
    for folder in COPIED_FOLDERS:
        if (root / folder).is_dir():
            shutil.copytree(root / folder, dest / folder, ignore=IGNORED)
    for name in COPIED_FILES:
        if (root / name).is_file():
            shutil.copy(root / name, dest / name)
    return dest


def workspace(
    template_dir: Path, lab: manifest.Lab, mutation: manifest.Mutation, dest: Path
) -> Path | None:
    """A workspace whose ``labs/NN`` holds the solution with ``mutation`` planted (None: stale)."""
    files = {}
    for rel in lab.files:
        text = (lab.solution_folder / rel).read_text()
        if rel == mutation.file:
            text = mutate(text, mutation)
            if text is None:
                return None
        files[rel] = text
    shutil.copytree(template_dir, dest, copy_function=os.link)
    for rel, text in files.items():
        target = dest / "labs" / lab.id / rel
        target.unlink(missing_ok=True)  # a hard link: writing through it would change the template
        target.write_text(text)
    return dest


def run_mutant(
    template_dir: Path, lab: manifest.Lab, mutation: manifest.Mutation, base: Path, env: dict
) -> Verdict:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(dir=base))
    path = workspace(template_dir, lab, mutation, folder / "repo")
    if path is None:
        return Verdict(lab.id, mutation, "stale")
    tmp = folder / "tmp"
    tmp.mkdir()
    request = run.Request(
        workspace=path,
        lab_id=lab.id,
        private=run.new_private(folder),
        tmp=tmp,
        limits=run.Limits(timeout=MUTANT_TIMEOUT, test_timeout=60, memory_mb=4096, processes=4096),
        extra_args=("--task", str(mutation.task)),
        extra_env=env,
    )
    result = run.execute(request, run.harness_folder(folder))
    seconds = time.monotonic() - started
    shutil.rmtree(folder, ignore_errors=True)
    if result.timed_out:
        return Verdict(lab.id, mutation, "hung", seconds)
    failing = [
        (nodeid, o)
        for nodeid, o in result.tests.items()
        if o.task == mutation.task and o.status in ("failed", "error")
    ]
    if not failing:
        ran = sum(1 for o in result.tests.values() if o.task == mutation.task)
        detail = f"{ran} test(s) of task {mutation.task} ran and passed"
        if not result.finished:
            detail += f"; pytest ended early (exit status {result.returncode})"
        return Verdict(lab.id, mutation, "escaped", seconds, detail)
    if all(bare_assert(o.message) for _, o in failing):
        return Verdict(lab.id, mutation, "unclear", seconds, failing[0][0])
    return Verdict(lab.id, mutation, "caught", seconds)


def score(verdicts: list[Verdict]) -> str:
    """``caught/planted`` for one lab's verdicts."""
    return f"{sum(v.caught for v in verdicts)}/{len(verdicts)}"
