"""Grade a class: every submission against every chosen lab, in parallel, confined, cached.

Before any student runs, the database must answer and each lab's solution, graded the same way as
a student (its run also says which tests count: see ``grader.grading.scoring``), must score full
marks; otherwise the batch stops with one line saying why. Then each student x lab runs in a fresh
workspace (see ``grader.grading.workspace``), with its own database and account, under
``grader.grading.confine``, made by ``grader.grading.runner`` (retries, cache).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from grader import manifest, postgres
from grader.grading import infra, reports, review, run, scoring, workspace
from grader.grading.gradebook import Gradebook, StudentResult, print_summary
from grader.grading.runner import GradingError, Job, Outcome, Runner, Settings, hash_job, run_all
from grader.grading.submission import (
    Submission,
    SubmissionError,
    assign_ids,
    discover,
    internal_id,
    open_submission,
)
from grader.progress import Progress

# Re-exported: what the grade command, Gradescope and the benchmark use as ``grade.<name>``.
__all__ = [
    "REFERENCE",
    "Gradebook",
    "GradingError",
    "Settings",
    "StudentResult",
    "grade",
    "print_summary",
]

REFERENCE = "_solution"  # no student id starts with "_" (grader.grading.submission.student_id)


def _open_all(entries: list[Path], labs: dict[str, manifest.Lab], out: Path):
    """Every entry read (or the reason it could not be), under its id for good."""
    names = {Path(rel).name for lab in labs.values() for rel in lab.files}
    ids = assign_ids(entries, out)
    subs: list[Submission] = []
    unreadable: dict[str, str] = {}
    for entry in entries:
        try:
            sub = open_submission(entry, names, ids[entry])
        except SubmissionError as exc:
            sub = Submission(ids[entry], entry)
            unreadable[sub.id] = str(exc)
        sub.key = internal_id(entry)
        subs.append(sub)
    return subs, unreadable


def _lab_notes(sub: Submission, lab: manifest.Lab, edits: list[tuple[str, str]]) -> list[str]:
    notes = []
    for rel in lab.files:
        if sub.editable(lab.id, rel) is None:
            notes.append(f"labs/{lab.id}/{rel} is not in your submission: the starter was graded.")
    mine = [(p, how) for p, how in edits if p.startswith(f"labs/{lab.id}/")]
    for path, how in mine:
        notes.append(f"Ignored: you {how} {path}; the grader always uses its own copy.")
    return notes


def _reference_problems(lab: manifest.Lab, runs: dict[tuple[str, str], Outcome]) -> list[str]:
    outcome = runs[(REFERENCE, lab.id)]
    infra_problems = [f"lab {lab.id} solution: infra: {why}" for why in outcome.infra]
    return infra_problems + scoring.reference_problems(lab, outcome.run)


def _reference_failure(problems: list[str], out: Path) -> str:
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return (
        f"the solution does not score full marks in the grader, so no student was graded: "
        f"{problems[0]}{more}; the solution's logs are in {out / reports.LOGS / REFERENCE}"
    )


def grade(
    submissions: Path,
    out: Path,
    settings: Settings,
    entries: list[Path] | None = None,
    reference_only: bool = False,
) -> Gradebook:
    """Grade every entry of ``submissions`` (or just ``entries``) and write the reports to ``out``.

    ``reference_only``: grade (and cache) the solutions, no student (Gradescope's setup).
    """
    started = time.monotonic()
    labs_all = manifest.load(settings.root / "labs" / "manifest.toml")
    chosen = settings.labs or list(labs_all)
    unknown = [lab for lab in chosen if lab not in labs_all]
    if unknown:
        raise GradingError(
            f"no such lab: {', '.join(unknown)} (the manifest has {', '.join(labs_all)})"
        )
    labs = {lab_id: labs_all[lab_id] for lab_id in chosen}
    if entries is None:
        if not submissions.is_dir():
            raise GradingError(f"{submissions} is not a folder")
        entries = discover(submissions)
    if not entries and not reference_only:
        raise GradingError(
            f"no submissions in {submissions}: put one folder (a clone of the repository) or one "
            ".zip / .tar.gz per student in it; the entry's name is the student's id"
        )
    admin_dsn = postgres.resolve().dsn
    leftovers = infra.sweep(admin_dsn)
    if problem := infra.check_database(admin_dsn):
        raise GradingError(problem)
    out.mkdir(parents=True, exist_ok=True)
    base = infra.new_temp_folder()
    os.chmod(base, 0o711)  # accounts may pass through to their own job folder, not list others
    runner = None
    try:
        # Neither the hidden tests nor the solution's cache (both may sit in the repository) are
        # part of the copy runs see, or of its digest.
        exclude = [p for p in (settings.hidden, settings.reference_cache) if p is not None]
        pristine = workspace.Pristine.create(settings.root, base / "pristine", exclude=exclude)
        os.chmod(base / "pristine", 0o711)
        runner = Runner(settings, base, pristine, admin_dsn)
        if leftovers:
            runner.isolation.notes.append(
                f"removed what a killed grader left: {', '.join(leftovers[:5])}"
                + (f" and {len(leftovers) - 5} more" if len(leftovers) > 5 else "")
            )
        subs, unreadable = _open_all(entries, labs, out)
        reference_jobs: list[Job] = []
        jobs: list[Job] = []
        reference_cache = settings.reference_cache or out / ".cache"
        for lab in labs.values():
            digest = pristine.lab_digest(lab.id, runner.hidden_for(lab.id))
            solution = {rel: (lab.solution_folder / rel).read_bytes() for rel in lab.files}
            key = hash_job(digest, solution, settings, runner.isolation.net)
            cache = reference_cache / REFERENCE / f"{lab.id}.json"
            reference_jobs.append(
                Job(REFERENCE, lab, solution, key, cache, f"solution lab {lab.id}")
            )
            for sub in subs:
                if sub.id in unreadable:
                    continue
                editable = {}
                for rel in lab.files:
                    data = sub.editable(lab.id, rel)
                    if data is None:  # graded as the starter (and said so in the feedback)
                        data = pristine.read(f"labs/{lab.id}/{rel}") or b""
                    editable[rel] = data
                key = hash_job(digest, editable, settings, runner.isolation.net)
                cache = out / ".cache" / sub.key / f"{lab.id}.json"
                jobs.append(Job(sub.key, lab, editable, key, cache, f"{sub.id} lab {lab.id}"))
        progress = Progress(len(reference_jobs) + len(jobs), "grading", enabled=settings.progress)
        # The solution first: a grader that cannot give it full marks must not grade anyone.
        # (A prepared cache, as Gradescope's setup makes, is used even when students are forced.)
        once = replace(settings, force=settings.force and settings.reference_cache is None)
        runs = run_all(runner, reference_jobs, once, progress)
        # A solution that fails once on a loaded machine (a timing test) gets one more run.
        again = [job for job in reference_jobs if _reference_problems(job.lab, runs)]
        if again:
            progress.total += len(again)
            runs.update(run_all(runner, again, replace(settings, force=True), progress))
        problems: list[str] = []
        for lab in labs.values():
            problems += _reference_problems(lab, runs)
            reports.write_log(out, REFERENCE, lab.id, runs[(REFERENCE, lab.id)].run)
        if problems:
            if progress.enabled and progress.tty:
                progress.stream.write("\n")
            raise GradingError(_reference_failure(problems, out))
        if reference_only:
            return Gradebook(labs, [], [], runner.isolation.describe())
        runs.update(run_all(runner, jobs, settings, progress))
        redactor = scoring.Redactor([d for d in (runner.hidden_for(i) for i in labs) if d])
        students = []
        for sub in subs:
            result = StudentResult(sub.id, {})
            if sub.id in unreadable:
                result.flags.append("unreadable")
                result.notes.append(f"The submission could not be read: {unreadable[sub.id]}")
            result.notes += [f"Skipped from your submission: {p}" for p in sub.problems[:20]]
            edits = sub.protected_edits(pristine.read)
            general = [
                (p, how) for p, how in edits if not p.startswith("labs/") or p.count("/") == 1
            ]
            for path, how in general:
                result.notes.append(
                    f"Ignored: you {how} {path}; the grader always uses its own copy."
                )
            if edits:
                result.flags.append("edits")
            for lab in labs.values():
                reference = runs[(REFERENCE, lab.id)].run
                if sub.id in unreadable:
                    outcome = Outcome(run.Run(finished=True))  # nothing ran: no "crashed"
                else:
                    outcome = runs[(sub.key, lab.id)]
                lab_result = scoring.score(
                    lab,
                    reference,
                    outcome.run,
                    redactor,
                    settings.limits.timeout,
                    _lab_notes(sub, lab, edits) if sub.id not in unreadable else [],
                    infra=outcome.infra,
                )
                lab_result.cached = outcome.cached
                if sub.id not in unreadable:
                    starter = {r: pristine.read(f"labs/{lab.id}/{r}") or b"" for r in lab.files}
                    editable = {r: sub.editable(lab.id, r) or starter[r] for r in lab.files}
                    solution = {
                        r: pristine.read(f"solutions/{lab.id}/{r}") or b"" for r in lab.files
                    }
                    if findings := review.review(lab, editable, starter, solution):
                        lab_result.flags.append("review")
                        lab_result.instructor_notes += [str(f) for f in findings]
                        if settings.strict:
                            review.zero(lab_result, findings)
                result.labs[lab.id] = lab_result
                reports.write_log(out, sub.id, lab.id, outcome.run)
            students.append(result)
        # Not the students' fault and not cached: the next batch grades these again.
        again = [
            f"{student.id} lab {lab.lab_id}: flagged infra ({'; '.join(lab.instructor_notes)}); "
            "grade the batch again"
            for student in students
            for lab in student.labs.values()
            if "infra" in lab.flags
        ]
        book = Gradebook(
            labs=labs,
            students=students,
            problems=again,
            isolation=runner.isolation.describe(),
            seconds=round(time.monotonic() - started, 2),
            runs=sum(not o.cached for o in runs.values()),
        )
        reports.write_all(out, book)
        return book
    finally:
        if runner is not None:
            runner.close()
        shutil.rmtree(base, ignore_errors=True)
