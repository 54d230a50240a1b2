"""Mutation testing of the labs: plant each mistake the manifest lists in a copy of the solution and
require the lab's tests to catch it, in time, with a message that says what is wrong.

A mistake (``[[labs.NN.mutations]]``: a name, a task, a ``find`` / ``replace`` pair on one student
file) is *caught* when the lab's tests of that task, run on the solution with the mistake planted,
finish within the time limit and at least one of them fails with a message that is more than a
bare ``assert`` (an explanation, ``pytest.fail``, an exception that names the problem).

One pytest session per lab runs them all, through the grader's own harness, in a copy of
``labs/`` and ``grader/``: ``mutants/<name>/`` holds the lab's files with that one mistake, and
``--mutants`` makes every lab test run once per mistake of its task (``grader.labplugin``). A
session start costs seconds; a test, a fraction of one. A mistake the shared session could not
judge (it ended early) runs again alone, as a student's ``labs/NN`` would hold it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grader import manifest
from grader.grading import run

# What a mutant's run needs besides the installed framework (sanic_ms, examples): the labs with
# their conftest, the grader package they import, lab 00's bench module, pytest's settings.
COPIED_FOLDERS = ("labs", "grader", "bench")
COPIED_FILES = ("pyproject.toml", "conftest.py")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
MUTANT_TIMEOUT = 90.0  # seconds for one mutant's run alone (its tests are bounded per phase too)
BATCH_TIMEOUT = 300.0  # seconds for one lab's session of every mutant
CONTROL = "the_solution_itself"  # the unplanted solution, run last in the shared session
PARAM = re.compile(r"\[(?P<ids>[^\]]*)\]$")
BARE_ASSERT = re.compile(r"^E\s+(AssertionError: )?assert\b")


@dataclass
class Verdict:
    lab_id: str
    mutation: manifest.Mutation
    status: str  # "caught", "escaped", "unclear" (bare asserts only), "hung", "stale", "unjudged"
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
            "unjudged": "the solution itself fails its tests, so nothing can be judged",
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
    request = run.course_request(
        folder,
        path,
        lab.id,
        MUTANT_TIMEOUT,
        extra_args=("--task", str(mutation.task)),
        extra_env=env,
    )
    result = run.execute(request, run.harness_folder(folder))
    seconds = time.monotonic() - started
    shutil.rmtree(folder, ignore_errors=True)
    if result.timed_out:
        return Verdict(lab.id, mutation, "hung", seconds)
    outcomes = [o for o in result.tests.values() if o.task == mutation.task]
    return judge(lab.id, mutation, outcomes, seconds)


def plant_all(template_dir: Path, lab: manifest.Lab, dest: Path) -> list[Verdict]:
    """A workspace holding every mistake of ``lab`` under ``mutants/``; the stale ones' verdicts."""
    shutil.copytree(template_dir, dest, copy_function=os.link)
    solution = {rel: (lab.solution_folder / rel).read_text() for rel in lab.files}
    stale, index = [], {}
    for mutation in lab.mutations:
        planted = solution.get(mutation.file)
        planted = mutate(planted, mutation) if planted is not None else None
        if planted is None:
            stale.append(Verdict(lab.id, mutation, "stale"))
            continue
        folder = dest / "mutants" / mutation.name
        folder.mkdir(parents=True)
        for rel, text in solution.items():
            (folder / rel).write_text(planted if rel == mutation.file else text)
        index[mutation.name] = [mutation.task]
    # The solution itself, planted like a mistake and run last against every test: it must
    # pass, or one mistake's run spilled into the next and the shared session proves nothing.
    folder = dest / "mutants" / CONTROL
    folder.mkdir(parents=True)
    for rel, text in solution.items():
        (folder / rel).write_text(text)
    index[CONTROL] = [task.number for task in lab.tasks]
    (dest / "mutants" / "index.json").write_text(json.dumps(index))
    return stale


def _planted_in(nodeid: str, names: set[str]) -> str | None:
    found = PARAM.search(nodeid)
    if not found:
        return None
    return next((part for part in found["ids"].split("-") if part in names), None)


def judge(lab_id: str, mutation: manifest.Mutation, outcomes: list, seconds: float) -> Verdict:
    """The verdict on one mistake from the outcomes of its task's tests (``run.TestOutcome``)."""
    failing = [o for o in outcomes if o.status in ("failed", "error")]
    if not failing:
        return Verdict(
            lab_id, mutation, "escaped", seconds, f"{len(outcomes)} test(s) of its task passed"
        )
    if all(bare_assert(o.message) for o in failing):
        return Verdict(lab_id, mutation, "unclear", seconds, failing[0].message[-300:])
    return Verdict(lab_id, mutation, "caught", seconds)


def _without_control(nodeid: str) -> str:
    """``test_x[the_solution_itself-no_city]`` -> ``test_x[no_city]``: the plain run's node id."""
    found = PARAM.search(nodeid)
    if not found:
        return nodeid
    ids = [part for part in found["ids"].split("-") if part != CONTROL]
    return nodeid[: found.start()] + (f"[{'-'.join(ids)}]" if ids else "")


def control_run(result: run.Run) -> run.Run:
    """The shared session's run of the solution itself, as ``pytest --solution`` reports it."""
    tests = {
        _without_control(nodeid): outcome
        for nodeid, outcome in result.tests.items()
        if _planted_in(nodeid, {CONTROL})
    }
    collected = [
        {**item, "nodeid": _without_control(item["nodeid"])}
        for item in result.collected
        if _planted_in(item["nodeid"], {CONTROL})
    ]
    return run.Run(
        tests=tests,
        collected=collected,
        collect_errors=result.collect_errors,
        finished=result.finished,
        timed_out=result.timed_out,
        returncode=result.returncode,
        seconds=result.seconds,
        log=result.log,
    )


@dataclass
class LabMutants:
    verdicts: list[Verdict]
    solution: run.Run  # the solution's own run (from the shared session, or alone)


def run_lab(template_dir: Path, lab: manifest.Lab, base: Path, env: dict) -> LabMutants:
    """Every mistake of ``lab``: one shared session, then alone those it could not judge.

    The session runs the solution itself too (last, as the control): when it passed, that is
    also the solution's run ``grader check`` reports, and no separate ``--solution`` run is needed.
    """
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(dir=base))
    path = folder / "repo"
    verdicts = plant_all(template_dir, lab, path)
    planted = [m for m in lab.mutations if (path / "mutants" / m.name).is_dir()]
    request = run.course_request(
        folder, path, lab.id, BATCH_TIMEOUT, extra_args=("--mutants", "mutants"), extra_env=env
    )
    result = run.execute(request, run.harness_folder(folder))
    names = {m.name for m in planted} | {CONTROL}
    by_name: dict[str, list] = {name: [] for name in names}
    for nodeid, outcome in result.tests.items():
        if (name := _planted_in(nodeid, names)) is not None:
            by_name[name].append(outcome)
    expected: dict[str, int] = {name: 0 for name in names}
    for item in result.collected:
        if (name := _planted_in(item["nodeid"], names)) is not None:
            expected[name] += 1
    seconds = time.monotonic() - started
    again = []
    control = by_name[CONTROL]
    solution = control_run(result)
    if not control or any(o.status != "passed" for o in control) or result.timed_out:
        # The solution failed after the mistakes ran. Alone, does it pass? Then a mistake spilled
        # into it: judge each mistake alone. Else nothing can be judged against it.
        (path / "mutants" / "index.json").write_text(
            json.dumps({CONTROL: [task.number for task in lab.tasks]})
        )
        alone = control_run(run.execute(request, run.harness_folder(folder)))
        passed = alone.tests and all(o.status == "passed" for o in alone.tests.values())
        if passed:
            planted, again, solution = [], planted, alone
        else:
            verdicts += [Verdict(lab.id, m, "unjudged") for m in planted]
            planted, solution = [], alone
    for mutation in planted:
        outcomes = by_name[mutation.name]
        complete = expected[mutation.name] and len(outcomes) == expected[mutation.name]
        if complete and all(o.message != "the test never finished" for o in outcomes):
            verdicts.append(judge(lab.id, mutation, outcomes, seconds))
        else:
            again.append(mutation)
    shutil.rmtree(folder, ignore_errors=True)
    for mutation in again:
        verdicts.append(run_mutant(template_dir, lab, mutation, base, env))
    order = {m.name: i for i, m in enumerate(lab.mutations)}
    return LabMutants(sorted(verdicts, key=lambda v: order[v.mutation.name]), solution)


def score(verdicts: list[Verdict]) -> str:
    """``caught/planted`` for one lab's verdicts."""
    return f"{sum(v.caught for v in verdicts)}/{len(verdicts)}"
