"""Grade a class: every submission against every chosen lab, in parallel, confined, cached.

Before any student runs, the database must answer and each lab's solution, graded the same way as
a student (its run also says which tests count: see ``grader.scoring``), must score full marks;
otherwise the batch stops with one line saying why. Then each student x lab runs in a fresh
workspace (see ``grader.workspace``), with its own database and account, under
``grader.confine``. A run that failed for the grader's reasons (``grader.infra``) is run once
more, flagged ``infra`` if it fails again, and never cached. A run whose inputs did not change
since the last time (the student's editable files, the grader's copy of the repository, the
hidden tests, the limits) is taken from ``<out>/.cache/<internal id>`` unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import (
    capacity,
    database,
    infra,
    manifest,
    reports,
    review,
    run,
    sandbox,
    scoring,
    workspace,
)
from grader.progress import Progress
from grader.submission import (
    Submission,
    SubmissionError,
    assign_ids,
    discover,
    internal_id,
    open_submission,
)

REFERENCE = "_solution"  # no student id starts with "_" (grader.submission.student_id)


@dataclass
class Settings:
    root: Path = manifest.REPO_ROOT
    labs: list[str] | None = None  # None: every lab in the manifest
    jobs: int = 0  # 0: one per core
    hidden: Path | None = None  # hidden tests: <hidden>/<lab id>/...
    limits: run.Limits = field(default_factory=run.Limits)
    force: bool = False
    isolate_network: bool = True
    progress: bool = True
    reference_cache: Path | None = None  # where the solution's runs are cached (default: out)
    strict: bool = False  # a file the review flags scores its lab 0 (grader.review)

    @property
    def workers(self) -> int:
        return self.jobs or capacity.jobs()


@dataclass
class StudentResult:
    id: str
    labs: dict[str, scoring.LabResult]
    notes: list[str] = field(default_factory=list)  # about the whole submission
    flags: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(lab.score for lab in self.labs.values()), 2)

    @property
    def max_score(self) -> float:
        return sum(lab.max_score for lab in self.labs.values())

    @property
    def seconds(self) -> float:
        return round(sum(lab.seconds for lab in self.labs.values()), 3)

    def all_flags(self) -> list[str]:
        flags = list(self.flags)
        for lab in self.labs.values():
            flags += [f"{lab.lab_id}:{flag}" for flag in lab.flags]
        return flags


@dataclass
class Gradebook:
    labs: dict[str, manifest.Lab]
    students: list[StudentResult]
    problems: list[str]  # with the grading itself (runs flagged infra: grade again)
    isolation: list[str]
    seconds: float = 0.0
    runs: int = 0  # student x lab runs made (not cached)


@dataclass
class Job:
    student: str  # the internal id (grader.submission.internal_id), or REFERENCE
    lab: manifest.Lab
    editable: dict[str, bytes]
    key: str
    cache: Path | None
    label: str = ""  # what the progress bar shows


@dataclass
class Outcome:
    run: run.Run
    cached: bool = False
    infra: list[str] = field(default_factory=list)  # why the grader, not the student, failed it


class GradingError(RuntimeError):
    """Grading cannot start (no submissions, unknown lab, no database, a solution that fails)."""


def _hash_job(lab_digest: str, editable: dict[str, bytes], settings: Settings, net: str) -> str:
    digest = hashlib.sha256(lab_digest.encode())
    for name in ("harness.py", "confine.py", "run.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    digest.update(json.dumps(settings.limits.__dict__, sort_keys=True).encode() + net.encode())
    for rel, data in sorted(editable.items()):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _cached(job: Job) -> run.Run | None:
    if job.cache is None or not job.cache.exists():
        return None
    try:
        data = json.loads(job.cache.read_text())
        if data.get("key") == job.key:
            return run.Run.from_json(data["run"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def _store(job: Job, result: run.Run) -> None:
    if job.cache is None:
        return
    job.cache.parent.mkdir(parents=True, exist_ok=True)
    job.cache.write_text(json.dumps({"key": job.key, "run": result.to_json()}))


class Runner:
    """Makes confined runs: one slot (account) per parallel job."""

    def __init__(
        self, settings: Settings, base: Path, pristine: workspace.Pristine, admin_dsn: str
    ):
        self.settings = settings
        self.base = base
        self.pristine = pristine
        self.admin_dsn = admin_dsn
        self.isolation = sandbox.detect(
            settings.workers, admin_dsn, settings.isolate_network, scratch=base / "probe"
        )
        self.harness_dir = run.harness_folder(base)
        self.server: database.Server | None = None
        if self.isolation.jail:
            self.etc = sandbox.write_etc(base / "etc", self.isolation.accounts)
            connections = database.ROLE_CONNECTIONS * (settings.workers + 1) + 10
            try:
                self.server = database.Server(base / "db", connections).start()
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                raise GradingError(f"could not start the grader's own PostgreSQL: {exc}") from exc
            self.admin_dsn = self.server.admin_dsn
            socket_dir = sandbox.JAIL_SOCKET_DIR
            self.isolation.notes.append(
                f"database: the grader's own PostgreSQL for this batch (started in "
                f"{self.server.seconds:g} s), its socket only, a password role per run"
            )
        else:
            if self.isolation.accounts:
                exe = Path(sys.executable)
                self.isolation.notes += sandbox.grant_traversal([exe, exe.resolve(), base])
            net = self.isolation.net
            socket_dir = self.isolation.socket_dir if net != "none" else None
        self.databases = database.Pool(self.admin_dsn, socket_dir, ahead=settings.workers + 1)
        self.slots: queue.Queue[int] = queue.Queue()
        for slot in range(settings.workers):
            self.slots.put(slot)

    def hidden_for(self, lab_id: str) -> Path | None:
        if self.settings.hidden is None:
            return None
        folder = self.settings.hidden / lab_id
        return folder if folder.is_dir() else None

    def execute(self, job: Job) -> run.Run:
        slot = self.slots.get()
        try:
            return self._execute(job, slot)
        finally:
            self.slots.put(slot)

    def _execute(self, job: Job, slot: int) -> run.Run:
        account = self.isolation.accounts[slot] if self.isolation.accounts else None
        if account is not None:
            sandbox.kill_account(account.uid)  # nothing of a previous run may linger
        jobdir = Path(tempfile.mkdtemp(prefix=f"{job.student[:16]}-{job.lab.id}-", dir=self.base))
        db = None
        try:
            if account is not None and not self.isolation.jail:
                os.chown(jobdir, 0, account.gid)  # only this slot's account may enter
            os.chmod(jobdir, 0o700 if self.isolation.jail else 0o750)
            sentinels = workspace.Sentinels.random(
                self.pristine.path / "labs" / job.lab.id / "tests",
                tuple(task.number for task in job.lab.tasks),
            )
            ws = workspace.build(
                self.pristine,
                jobdir / "ws",
                job.lab,
                job.editable,
                self.hidden_for(job.lab.id),
                sentinels,
            )
            private = run.new_private(jobdir)
            tmp = jobdir / "tmp"
            tmp.mkdir()
            os.chmod(tmp, 0o700)
            if account is not None and not self.isolation.jail:
                os.chown(tmp, account.uid, account.gid)
            net = self.isolation.net
            jail = None
            if self.isolation.jail:
                jail = sandbox.Jail(
                    ws.path, self.harness_dir, self.etc, self.server.socket, network=net == "jail"
                )
            db = self.databases.take()
            request = run.Request(
                workspace=ws.path,
                lab_id=job.lab.id,
                private=private,
                tmp=tmp,
                limits=self.settings.limits,
                database_url=db.dsn,
                account=account,
                net=net,
                sentinels=sentinels,
                jail=jail,
            )
            result = run.execute(request, self.harness_dir)
            result.account = account.name if account else ""
            result.database = db.name
            return result
        finally:
            if db is not None:
                self.databases.give_back(db)  # dropped in the background, all by close()
            sandbox.remove_tree(jobdir)

    def close(self) -> None:
        self.databases.close()
        if self.server is not None:
            self.server.stop()
        sandbox.release(self.isolation.locks)


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


def _attempt(runner: Runner, job: Job) -> tuple[run.Run, list[str]]:
    try:
        result = runner.execute(job)
    except Exception as exc:  # the grader's own failure: never the student's
        result = run.Run(integrity=[], log=traceback.format_exc())
        result.collect_errors.append(
            {"nodeid": "", "message": "the grader failed to run this lab (see log)"}
        )
        return result, infra.reasons(result, f"{type(exc).__name__}: {exc}")
    return result, infra.reasons(result)


def _run_and_retry(runner: Runner, job: Job) -> Outcome:
    """One run; once more when it failed for the grader's reasons; cached only when sound."""
    result, why = _attempt(runner, job)
    if why:
        first = why
        result, why = _attempt(runner, job)
        result.log = f"[grader] first attempt failed ({'; '.join(first)}), retried\n{result.log}"
    if why:
        # The confinement's own complaint is not the student's integrity problem.
        result.integrity = [w for w in result.integrity if "could not confine" not in w]
    else:
        _store(job, result)
    return Outcome(result, False, why)


def _run_all(runner: Runner, jobs: list[Job], settings: Settings, progress: Progress):
    """Run (or take from the cache) every job, in parallel; ``(student, lab) -> Outcome``."""
    outcomes: dict[tuple[str, str], Outcome] = {}
    todo = []
    for job in jobs:
        hit = None if settings.force else _cached(job)
        if hit is not None:
            outcomes[(job.student, job.lab.id)] = Outcome(hit, True)
            progress.advance(cached=True)
        else:
            todo.append(job)
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        futures = {pool.submit(_run_and_retry, runner, job): job for job in todo}
        try:
            for future in as_completed(futures):
                job = futures[future]
                outcomes[(job.student, job.lab.id)] = future.result()
                progress.advance(job.label or f"{job.student} lab {job.lab.id}")
        except KeyboardInterrupt:
            # Stop: what has not started never will; what runs ends within its time limit,
            # then the caller drops the databases and removes the workspaces.
            for future in futures:
                future.cancel()
            raise
    return outcomes


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
    from sanic_ms.postgres import resolve

    admin_dsn = resolve().dsn
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
            key = _hash_job(digest, solution, settings, runner.isolation.net)
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
                key = _hash_job(digest, editable, settings, runner.isolation.net)
                cache = out / ".cache" / sub.key / f"{lab.id}.json"
                jobs.append(Job(sub.key, lab, editable, key, cache, f"{sub.id} lab {lab.id}"))
        progress = Progress(len(reference_jobs) + len(jobs), "grading", enabled=settings.progress)
        # The solution first: a grader that cannot give it full marks must not grade anyone.
        # (A prepared cache, as Gradescope's setup makes, is used even when students are forced.)
        once = replace(settings, force=settings.force and settings.reference_cache is None)
        runs = _run_all(runner, reference_jobs, once, progress)
        # A solution that fails once on a loaded machine (a timing test) gets one more run.
        again = [job for job in reference_jobs if _reference_problems(job.lab, runs)]
        if again:
            progress.total += len(again)
            runs.update(_run_all(runner, again, replace(settings, force=True), progress))
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
        runs.update(_run_all(runner, jobs, settings, progress))
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


def print_summary(book: Gradebook, out: Path) -> None:
    """The few lines an instructor reads after a batch."""
    lab_ids = list(book.labs)
    width = max([len("student"), *(len(s.id) for s in book.students)])
    print(
        f"{'student':<{width}}  " + "  ".join(f"lab {i:>3}" for i in lab_ids) + "    total  flags"
    )
    for student in book.students:
        cells = "  ".join(f"{student.labs[i].score:7g}" for i in lab_ids)
        flags = ",".join(student.all_flags())
        print(f"{student.id:<{width}}  {cells}  {student.score:7g}  {flags}")
    runs = book.runs
    per_run = f", {book.seconds / runs:.2f} s per run" if runs else ""
    print(f"\n{len(book.students)} student(s), {runs} run(s) in {book.seconds:g} s{per_run}")
    for line in book.isolation:
        print(f"confinement: {line}")
    for problem in book.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print(f"reports: {out / 'gradebook.csv'}, {out / 'summary.html'}, {out}/<student>/")
