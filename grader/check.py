"""``python -m grader check``: the instructor's pre-flight, before a class grades on these labs.

For every lab (in parallel): the generated starters and solutions match the committed ones (through
``grader.build`` when the labs ship it; a student's edited ``labs/NN`` file fails only in CI or
with ``--strict-drift``), every task has points, a hint and at least one test, every test is marked
with a task of the manifest, the starter fails every test and the solution passes every test, every
mistake the manifest plants in the solution is caught by the tests of its task (``grader.mutants``:
at least the manifest's ``min_mutations`` per lab, every task covered; a mutation score per lab),
and README, starter and tests agree (``grader.agreement``). The starters, solutions and planted
mistakes are tested on a fresh copy generated from their sources (``grader.fresh``), so the check
passes in a student's clone whatever they solved. Runs go through the grader's own harness (signed
results, as in grading) but unconfined: this is the instructor's code. Prints a table; exit status
1 on any problem.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader import agreement, fresh, manifest, mutants
from grader.grading import run


@dataclass
class LabCheck:
    lab: manifest.Lab
    starter: run.Run | None = None
    solution: run.Run | None = None
    problems: list[str] = field(default_factory=list)
    verdicts: list[mutants.Verdict] = field(default_factory=list)

    def tests(self, which: run.Run | None) -> list[dict]:
        return [i for i in which.collected] if which else []


def _run_lab(root: Path, lab_id: str, solution: bool, timeout: float, base: Path) -> run.Run:
    env = {name: os.environ[name] for name in ("DATABASE_URL", "PGUSER") if name in os.environ}
    folder = Path(tempfile.mkdtemp(dir=base))
    request = run.course_request(
        folder,
        root,
        lab_id,
        timeout,
        extra_args=("--solution",) if solution else (),
        extra_env=env,
    )
    return run.execute(request, run.harness_folder(folder))


def manifest_problems(lab: manifest.Lab) -> list[str]:
    problems = []
    if not lab.tasks:
        problems.append(f"lab {lab.id}: no tasks in the manifest")
    numbers = [t.number for t in lab.tasks]
    if len(set(numbers)) != len(numbers):
        problems.append(f"lab {lab.id}: task numbers repeat ({numbers})")
    for task in lab.tasks:
        if task.points <= 0:
            problems.append(f"lab {lab.id} task {task.number}: no points")
        if not task.hint.strip():
            problems.append(f"lab {lab.id} task {task.number}: no hint")
        elif not all(level.strip() for level in task.hints):
            problems.append(f"lab {lab.id} task {task.number}: an empty hint level")
    if len(lab.mutations) < lab.min_mutations:
        problems.append(
            f"lab {lab.id}: {len(lab.mutations)} planted mistake(s) in the manifest, "
            f"fewer than {lab.min_mutations}"
        )
    for task in lab.tasks:
        if lab.min_mutations and not any(m.task == task.number for m in lab.mutations):
            problems.append(f"lab {lab.id} task {task.number}: no planted mistake")
    names = [m.name for m in lab.mutations]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"lab {lab.id}: planted mistake {name!r} is listed twice")
    for mutation in lab.mutations:
        if mutation.file not in lab.files:
            problems.append(
                f"lab {lab.id}: planted mistake {mutation.name!r} edits {mutation.file!r}, "
                "not a student file of the lab"
            )
    for rel in lab.files:
        for folder in (lab.folder, lab.solution_folder):
            if not (folder / rel).is_file():
                rel_folder = folder.relative_to(lab.root)
                problems.append(f"lab {lab.id}: {rel_folder}/{rel} is missing")
    return problems + (agreement.problems(lab) if lab.agreement else [])


def run_problems(lab: manifest.Lab, result: run.Run, solution: bool) -> list[str]:
    which = "solution" if solution else "starter"
    problems = []
    if result.timed_out:
        problems.append(f"lab {lab.id} {which}: the tests did not finish in time")
    elif not result.finished:
        problems.append(
            f"lab {lab.id} {which}: pytest ended early (exit status {result.returncode})"
        )
    for error in result.collect_errors:
        first = error["message"].strip().splitlines()[-1:] or [""]
        problems.append(f"lab {lab.id} {which}: cannot collect {error['nodeid']}: {first[0][:200]}")
    numbers = {t.number for t in lab.tasks}
    for item in result.collected:
        if item["task"] not in numbers:
            problems.append(
                f"lab {lab.id}: {item['nodeid']} is not marked with a task of the manifest"
            )
    for nodeid, outcome in result.tests.items():
        if solution and outcome.status != "passed":
            first = outcome.message.strip().splitlines()[:1] or [""]
            problems.append(f"lab {lab.id} solution: {nodeid} {outcome.status}: {first[0][:160]}")
        if not solution and outcome.status == "passed":
            problems.append(f"lab {lab.id} starter: {nodeid} passes before any work is done")
    if solution:
        ran = set(result.tests)
        for item in result.collected:
            if item["nodeid"] not in ran and not result.timed_out:
                problems.append(f"lab {lab.id} solution: {item['nodeid']} did not run")
    if not solution:
        for task in lab.tasks:
            if not any(item["task"] == task.number for item in result.collected):
                problems.append(f"lab {lab.id} task {task.number}: no test")
    return problems


def generated_problems(root: Path, strict: bool = False) -> tuple[list[str], str]:
    """Drift between ``python -m grader build`` and the committed files, via the labs' builder.

    A differing file of ``labs/NN`` is the student's work in a student's clone: it fails only when
    ``strict`` (``--strict-drift``, or ``CI`` set); otherwise it is named in the summary line.
    Solutions, missing files and broken markers always fail.
    """
    if root.resolve() != manifest.REPO_ROOT:
        return [], "generated files: not checked (no builder for this root)"
    try:
        from grader import build
    except ModuleNotFoundError:
        return [], "generated files: not checked (grader/build.py not built yet)"
    if getattr(build, "build", None) is None:
        return [], "generated files: not checked (grader.build has no build())"
    try:
        found = fresh.drift(root)
    except build.MarkerError as exc:
        return [str(exc)], "generated files: compared with python -m grader build"
    problems = [str(d) for d in found if strict or not d.editable]
    edited = [d.path for d in found if not strict and d.editable]
    how = "generated files: compared with python -m grader build"
    if edited:
        how += (
            f"; edited, so not compared (the CI or --strict-drift would fail on them): "
            f"{', '.join(edited)}"
        )
    return problems, how


def lab_workspace(root: Path, base: Path) -> Path:
    """Where starters and solutions are tested: a fresh copy with every generated file rebuilt
    (a student's edits to ``labs/NN`` are not the starter), or ``root`` when it has no builder."""
    if root.resolve() != manifest.REPO_ROOT:
        return root
    return fresh.fresh_copy(base / "fresh", root)


def check(
    root: Path,
    labs_wanted: list[str] | None,
    jobs: int,
    timeout: float,
    strict_drift: bool = False,
    mutations: bool = True,
):
    labs = manifest.load(root / "labs" / "manifest.toml")
    unknown = [lab for lab in labs_wanted or [] if lab not in labs]
    if unknown:
        raise SystemExit(f"python -m grader check: no such lab: {', '.join(unknown)}")
    chosen = [labs[i] for i in (labs_wanted or labs)]
    checks = {lab.id: LabCheck(lab, problems=manifest_problems(lab)) for lab in chosen}
    drift, how = generated_problems(root, strict_drift or fresh.strict())
    base = Path(tempfile.mkdtemp(prefix="sanic-ms-check-"))
    env = {name: os.environ[name] for name in ("DATABASE_URL", "PGUSER") if name in os.environ}
    try:
        workspace = lab_workspace(root, base)
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            planted = {}
            if mutations:
                template = mutants.template(workspace, base)
                # The longest sessions first, so no worker is left alone with lab 06 at the end.
                with_mistakes = sorted(
                    (lab for lab in chosen if lab.mutations), key=lambda lab: -len(lab.mutations)
                )
                planted = {
                    lab.id: pool.submit(mutants.run_lab, template, lab, base, env)
                    for lab in with_mistakes
                }
            # A lab's shared session of mistakes also runs its solution; the others need a run.
            futures = {
                (lab.id, solution): pool.submit(
                    _run_lab, workspace, lab.id, solution, timeout, base
                )
                for solution in (False, True)
                for lab in chosen
                if not (solution and lab.id in planted)
            }
            for lab_id, future in planted.items():
                found = future.result()
                checks[lab_id].verdicts = found.verdicts
                checks[lab_id].problems += [v.problem() for v in found.verdicts if not v.caught]
                checks[lab_id].solution = found.solution
            for (lab_id, solution), future in futures.items():
                item = checks[lab_id]
                result = future.result()
                if solution:
                    item.solution = result
                else:
                    item.starter = result
            for item in checks.values():
                if item.starter is not None:
                    item.problems += run_problems(item.lab, item.starter, False)
                if item.solution is not None:
                    item.problems += run_problems(item.lab, item.solution, True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return checks, drift, how


def _count(result: run.Run | None, status: str) -> str:
    if result is None:
        return "-"
    hit = sum(1 for o in result.tests.values() if o.status == status)
    return f"{hit}/{len(result.collected)}"


def table(checks: dict[str, LabCheck]) -> str:
    rows = [
        (
            "lab",
            "title",
            "tasks",
            "points",
            "tests",
            "starter fails",
            "solution passes",
            "mistakes caught",
            "seconds",
            "result",
        )
    ]
    for item in checks.values():
        lab = item.lab
        tests = len(item.starter.collected) if item.starter else 0
        seconds = (
            f"{item.starter.seconds:.1f}+{item.solution.seconds:.1f}"
            if item.starter and item.solution
            else "-"
        )
        fails = "-"
        if item.starter:
            failing = sum(1 for o in item.starter.tests.values() if o.status != "passed")
            fails = f"{failing}/{tests}"
        rows.append(
            (
                lab.id,
                lab.title[:32],
                str(len(lab.tasks)),
                str(lab.points),
                str(tests),
                fails,
                _count(item.solution, "passed"),
                mutants.score(item.verdicts) if item.verdicts else "-",
                seconds,
                "ok" if not item.problems else f"{len(item.problems)} problem(s)",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def mutation_lines(checks: dict[str, LabCheck]) -> list[str]:
    verdicts = [v for item in checks.values() for v in item.verdicts]
    if not verdicts:
        return ["planted mistakes: not run"]
    caught = sum(v.caught for v in verdicts)
    slowest = max(verdicts, key=lambda v: v.seconds)
    return [
        f"planted mistakes: {caught}/{len(verdicts)} caught by the tests of their task "
        f"(slowest lab: {slowest.lab_id}, {slowest.seconds:.1f} s)"
    ]


def main(*args, **kwargs) -> int:
    """``python -m grader check``: :func:`check` with these arguments, printed; 1 on a problem."""
    started = time.monotonic()
    checks, drift, how = check(*args, **kwargs)
    print(table(checks))
    print("\n".join(mutation_lines(checks)))
    print(how + (": ok" if not drift and "compared" in how else ""))
    problems = drift + [p for item in checks.values() for p in item.problems]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    seconds = time.monotonic() - started
    verdict = "ok" if not problems else f"{len(problems)} problem(s)"
    print(f"check: {verdict} ({len(checks)} lab(s) in {seconds:.1f} s)")
    sys.stdout.flush()
    return 1 if problems else 0
