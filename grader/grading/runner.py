"""Make a batch's runs: one confined run per student x lab, in parallel, retried and cached.

A run that failed for the grader's reasons (``grader.grading.infra``) is run once more, flagged
``infra`` if it fails again, and never cached. A run whose inputs did not change since the last
time (the student's editable files, the grader's copy of the repository, the hidden tests, the
limits) is taken from its cache file unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from grader import manifest
from grader.grading import capacity, database, infra, run, sandbox, workspace
from grader.progress import Progress


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
    strict: bool = False  # a file the review flags scores its lab 0 (grader.grading.review)

    @property
    def workers(self) -> int:
        return self.jobs or capacity.jobs()


@dataclass
class Job:
    student: str  # internal id (grader.grading.submission.internal_id), or grade.REFERENCE
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


def hash_job(lab_digest: str, editable: dict[str, bytes], settings: Settings, net: str) -> str:
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


def run_all(runner: Runner, jobs: list[Job], settings: Settings, progress: Progress):
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
