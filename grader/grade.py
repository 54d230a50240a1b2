"""Grade a class: every submission against every chosen lab, in parallel, confined, cached.

For each lab the solution is graded first, the same way as a student (its run also says which
tests count: see ``grader.scoring``). Then each student x lab runs in a fresh workspace (see
``grader.workspace``), with its own database and account, under ``grader.confine``. A run whose
inputs did not change since the last time (the student's editable files, the grader's copy of the
repository, the hidden tests, the limits) is taken from ``<out>/.cache`` unless ``force``.
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
from dataclasses import dataclass, field
from pathlib import Path

from grader import database, manifest, reports, review, run, sandbox, scoring, workspace
from grader.progress import Progress
from grader.submission import (
    Submission,
    SubmissionError,
    discover,
    open_submission,
    student_id,
)

REFERENCE = "_solution"


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
    strict: bool = False  # a file the review flags scores its lab 0 (grader.review)

    @property
    def workers(self) -> int:
        return self.jobs or os.cpu_count() or 1


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
    problems: list[str]  # with the grading itself (the solution does not pass ...)
    isolation: list[str]
    seconds: float = 0.0
    runs: int = 0  # student x lab runs made (not cached)


@dataclass
class Job:
    student: str
    lab: manifest.Lab
    editable: dict[str, bytes]
    key: str
    cache: Path | None


class GradingError(RuntimeError):
    """Grading cannot start (no submissions, unknown lab, no database)."""


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
        jobdir = Path(tempfile.mkdtemp(prefix=f"{job.student}-{job.lab.id}-", dir=self.base))
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


def _open_all(entries: list[Path], labs: dict[str, manifest.Lab]):
    names = {Path(rel).name for lab in labs.values() for rel in lab.files}
    opened: list[tuple[Submission, str | None]] = []
    for entry in entries:
        try:
            opened.append((open_submission(entry, names), None))
        except (SubmissionError, OSError) as exc:
            opened.append((Submission(student_id(entry), entry), str(exc)))
    seen: dict[str, int] = {}
    for sub, _ in opened:  # "alice" and "alice.zip" must not overwrite each other's reports
        seen[sub.id] = seen.get(sub.id, 0) + 1
        if seen[sub.id] > 1:
            sub.id = f"{sub.id}-{seen[sub.id]}"
    unreadable = {sub.id: error for sub, error in opened if error is not None}
    return [sub for sub, _ in opened], unreadable


def _lab_notes(sub: Submission, lab: manifest.Lab, edits: list[tuple[str, str]]) -> list[str]:
    notes = []
    for rel in lab.files:
        if sub.editable(lab.id, rel) is None:
            notes.append(f"labs/{lab.id}/{rel} is not in your submission: the starter was graded.")
    mine = [(p, how) for p, how in edits if p.startswith(f"labs/{lab.id}/")]
    for path, how in mine:
        notes.append(f"Ignored: you {how} {path}; the grader always uses its own copy.")
    return notes


def grade(
    submissions: Path, out: Path, settings: Settings, entries: list[Path] | None = None
) -> Gradebook:
    """Grade every entry of ``submissions`` (or just ``entries``) and write the reports to ``out``."""
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
    if not entries:
        raise GradingError(
            f"no submissions in {submissions}: put one folder (a clone of the repository) or one "
            ".zip / .tar.gz per student in it; the entry's name is the student's id"
        )
    from sanic_ms.postgres import resolve

    admin_dsn = resolve().dsn
    out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="sanic-ms-grade-"))
    os.chmod(base, 0o711)  # accounts may pass through to their own job folder, not list others
    runner = None
    try:
        hidden = [settings.hidden] if settings.hidden else []
        pristine = workspace.Pristine.create(settings.root, base / "pristine", exclude=hidden)
        os.chmod(base / "pristine", 0o711)
        runner = Runner(settings, base, pristine, admin_dsn)
        subs, unreadable = _open_all(entries, labs)
        jobs: list[Job] = []
        for lab in labs.values():
            digest = pristine.lab_digest(lab.id, runner.hidden_for(lab.id))
            solution = {rel: (lab.solution_folder / rel).read_bytes() for rel in lab.files}
            key = _hash_job(digest, solution, settings, runner.isolation.net)
            cache = out / ".cache" / REFERENCE / f"{lab.id}.json"
            jobs.append(Job(REFERENCE, lab, solution, key, cache))
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
                cache = out / ".cache" / sub.id / f"{lab.id}.json"
                jobs.append(Job(sub.id, lab, editable, key, cache))
        runs: dict[tuple[str, str], tuple[run.Run, bool]] = {}
        todo = []
        for job in jobs:
            hit = None if settings.force else _cached(job)
            if hit is not None:
                runs[(job.student, job.lab.id)] = (hit, True)
            else:
                todo.append(job)
        progress = Progress(len(jobs), "grading", enabled=settings.progress)
        for _ in range(len(jobs) - len(todo)):
            progress.advance(cached=True)
        fresh = 0
        with ThreadPoolExecutor(max_workers=settings.workers) as pool:
            futures = {pool.submit(runner.execute, job): job for job in todo}
            try:
                for future in as_completed(futures):
                    job = futures[future]
                    try:
                        result = future.result()
                        _store(job, result)
                    except Exception:  # one broken run never stops the batch
                        result = run.Run(integrity=[], log=traceback.format_exc())
                        result.collect_errors.append(
                            {"nodeid": "", "message": "the grader failed to run this lab (see log)"}
                        )
                    runs[(job.student, job.lab.id)] = (result, False)
                    fresh += 1
                    progress.advance(f"{job.student} lab {job.lab.id}")
            except KeyboardInterrupt:
                # Stop: what has not started never will; what runs ends within its time limit,
                # then the finally below drops the databases and removes the workspaces.
                for future in futures:
                    future.cancel()
                raise
        problems: list[str] = []
        redactor = scoring.Redactor([d for d in (runner.hidden_for(i) for i in labs) if d])
        for lab in labs.values():
            problems += scoring.reference_problems(lab, runs[(REFERENCE, lab.id)][0])
            reports.write_log(out, REFERENCE, lab.id, runs[(REFERENCE, lab.id)][0])
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
                reference = runs[(REFERENCE, lab.id)][0]
                if sub.id in unreadable:
                    student_run = run.Run(finished=False)
                    cached = False
                else:
                    student_run, cached = runs[(sub.id, lab.id)]
                lab_result = scoring.score(
                    lab,
                    reference,
                    student_run,
                    redactor,
                    settings.limits.timeout,
                    _lab_notes(sub, lab, edits) if sub.id not in unreadable else [],
                )
                lab_result.cached = cached
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
                reports.write_log(out, sub.id, lab.id, student_run)
            students.append(result)
        book = Gradebook(
            labs=labs,
            students=students,
            problems=problems,
            isolation=runner.isolation.describe(),
            seconds=round(time.monotonic() - started, 2),
            runs=fresh,
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
