"""Run one lab's tests in a workspace, confined (jailed when bwrap can), and check what came back.

The harness signs each record with a key of its own (``record_key(master, seq)``): the grader keeps
the master key and writes the records' keys ahead into a pipe only the harness reads from (see
``grader.grading.harness``). A :class:`Run` is the raw result: per test (node id) its status and message, the collection
errors, whether the session finished, and every sign of interference: lines on the results channel
with a wrong signature, records out of order, pytest internals patched, sentinels that came out
wrong. Scoring (``grader.grading.scoring``) turns it into points.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from hashlib import sha256
from pathlib import Path

from grader.grading import harness, sandbox
from grader.grading.output import CappedOutput
from grader.grading.workspace import Sentinels

HARNESS_MODULE = "_grader_harness"
KEY_SIZE = 32
RECORD_KEYS = 4096  # records a run may sign (a lab makes a few hundred)
HIDDEN_FOLDER = re.compile(r"hidden_[0-9a-f]{8}")
# Installed pytest plugins a graded run does not load: locust's monkeypatches with gevent, and
# schemathesis', hypothesis', faker's and anyio's cost seconds per run; the labs use none of them. (Switched off on
# pytest's command line, not with PYTEST_DISABLE_PLUGIN_AUTOLOAD: a lab that starts pytest itself,
# as lab 06 does, must get the environment a student has.)
PLUGINS = ("no:locust", "no:schemathesis", "no:hypothesispytest", "no:faker", "no:anyio")


@dataclass
class Limits:
    timeout: float = 120.0  # seconds for the whole lab
    test_timeout: float = 20.0  # seconds per test (a lab's own marker may set less)
    memory_mb: int = 2048  # address space
    processes: int = 96  # processes and threads of the run's account
    file_mb: int = 64  # largest file the run may write

    def rlimits(self) -> dict[str, int]:
        return {
            "AS": self.memory_mb * 1024 * 1024,
            "NPROC": self.processes,
            "FSIZE": self.file_mb * 1024 * 1024,
            "CORE": 0,
            "NOFILE": 1024,
            "CPU": int(self.timeout) + 30,  # a backstop should the wall clock kill ever fail
        }


@dataclass
class TestOutcome:
    status: str  # "passed", "failed", "error", "skipped"
    message: str = ""
    task: int | None = None
    duration: float = 0.0


@dataclass
class Run:
    tests: dict[str, TestOutcome] = field(default_factory=dict)  # normalised node id -> outcome
    collected: list[dict] = field(default_factory=list)  # {"nodeid", "task"} in run order
    collect_errors: list[dict] = field(default_factory=list)
    finished: bool = False
    timed_out: bool = False
    returncode: int | None = None
    seconds: float = 0.0
    integrity: list[str] = field(default_factory=list)  # why the run cannot be trusted
    log: str = ""  # the tail of stdout+stderr: for the instructor, never for the student
    account: str = ""  # who the run ran as, and in which database (for the instructor's log)
    database: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Run:
        tests = {k: TestOutcome(**v) for k, v in data.pop("tests").items()}
        return cls(tests=tests, **data)


@dataclass
class Request:
    """One run to make: a workspace, the lab folder to test, and how to confine it."""

    workspace: Path
    lab_id: str
    private: Path  # a folder only the grader can open: the results file and log go here
    tmp: Path  # the run's HOME and TMPDIR, writable by the run's account
    limits: Limits
    database_url: str | None = None  # the run's own database, made for it alone
    account: sandbox.Account | None = None
    net: str = "none"
    sentinels: Sentinels | None = None
    extra_args: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    plugins: tuple[str, ...] = PLUGINS
    jail: sandbox.Jail | None = None  # run inside this bubblewrap jail (workspace, tmp: its own)


def harness_folder(base: Path) -> Path:
    """A folder holding the harness plugin (under a name no lab file can shadow) and confine.py."""
    folder = base / "harness"
    folder.mkdir(parents=True, exist_ok=True)
    for source, name in (
        (harness.__file__, f"{HARNESS_MODULE}.py"),
        (sandbox.CONFINE, "confine.py"),
    ):
        target = folder / name
        target.write_bytes(Path(source).read_bytes())
        os.chmod(target, 0o644)
    os.chmod(folder, 0o755)
    return folder


def record_key(master: bytes, seq: int) -> bytes:
    """The key of record ``seq``: one per record, so a key read by anyone else is spent."""
    return hmac.new(master, b"record %d" % seq, sha256).digest()


def _key_pipe(master: bytes) -> tuple[int, int]:
    """A pipe holding the keys of the first records in order: its read end, and how many keys."""
    read, write = os.pipe()
    try:
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, RECORD_KEYS * KEY_SIZE)
    except OSError:
        pass  # the default 64 KiB still holds 2048 keys
    count = min(fcntl.fcntl(write, fcntl.F_GETPIPE_SZ) // KEY_SIZE, RECORD_KEYS)
    os.write(write, b"".join(record_key(master, i) for i in range(count)))
    os.close(write)
    return read, count


def _keys_left(fd: int) -> int:
    """How many whole keys nobody read from the key pipe (the grader's own copy of its read end)."""
    os.set_blocking(fd, False)
    left = 0
    try:
        while chunk := os.read(fd, 65536):
            left += len(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return left // KEY_SIZE


def _env(request: Request, harness_dir: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    tmp = "/tmp" if request.jail else str(request.tmp)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": tmp,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": sandbox.JAIL_GRADER if request.jail else str(harness_dir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        "GRADING": "1",
    }
    if request.account is not None:
        env["USER"] = env["LOGNAME"] = request.account.name
    if request.database_url:
        # The run's own database (made for it ahead, dropped after): the labs' session fixture
        # uses it as it is (TEST_DATABASE_URL) instead of creating and dropping one in the run.
        env["DATABASE_URL"] = env["TEST_DATABASE_URL"] = request.database_url
    env.update(request.extra_env)
    return env


def execute(request: Request, harness_dir: Path) -> Run:
    """Run pytest on ``labs/<id>`` in the workspace, wait (bounded), verify and read the records."""
    master = secrets.token_bytes(32)
    key_fd, keys_written = _key_pipe(master)
    # The grader's own copy of the read end: afterwards, what is left tells how many keys were
    # taken, to compare with the records that arrived (a forger that hides the harness's records
    # behind os.dup2 still makes the harness take keys for them).
    keys_copy = os.dup(key_fd)
    results_path = request.private / f"results-{secrets.token_hex(8)}.jsonl"
    log_path = request.private / "output.log"
    out_fd = os.open(results_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    output = CappedOutput(log_path)  # a pipe: the run's prints never fill a file of its own
    log_fd = output.fd
    argv = [
        sys.executable,
        "-m",
        "pytest",
        f"labs/{request.lab_id}",
        *(arg for plugin in request.plugins for arg in ("-p", plugin)),
        "-p",
        HARNESS_MODULE,
        "-p",
        "no:cacheprovider",
        "-q",
        "--color=no",
        f"--timeout={request.limits.test_timeout:g}",
        "-o",
        "console_output_style=classic",
        *request.extra_args,
    ]
    orders = {
        "argv": argv,
        "env": _env(request, harness_dir),
        "cwd": sandbox.JAIL_WORKSPACE if request.jail else str(request.workspace),
        "uid": request.account.uid if request.account else None,
        "gid": request.account.gid if request.account else None,
        "net": "none" if request.jail else request.net,  # a jail has its own network already
        "limits": request.limits.rlimits(),
        "key_fd": key_fd,
        "out_fd": out_fd,
        "sentinel": request.sentinels.filename if request.sentinels else "",
    }
    orders_read, orders_write = os.pipe()
    os.write(orders_write, json.dumps(orders).encode())
    os.close(orders_write)
    if request.jail:
        command = [
            *sandbox.jail_argv(request.jail),
            sys.executable,
            "-I",
            "-S",
            f"{sandbox.JAIL_GRADER}/confine.py",
            str(orders_read),
        ]
    else:
        command = [sys.executable, "-I", "-S", str(sandbox.CONFINE), str(orders_read)]
    started = time.monotonic()
    run = Run()
    process = None
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            pass_fds=(orders_read, out_fd, key_fd),
            start_new_session=True,
            cwd=request.private if request.jail else request.workspace,
        )
    finally:
        os.close(orders_read)
        os.close(out_fd)
        os.close(key_fd)
        output.parent_done()
        if process is None:
            os.close(keys_copy)
    try:
        run.returncode = process.wait(timeout=request.limits.timeout)
    except subprocess.TimeoutExpired:
        run.timed_out = True
        sandbox.kill_group(process.pid)
        run.returncode = process.wait()
    finally:
        # Whatever the run left behind (a daemon, a fork bomb) goes with it.
        sandbox.kill_group(process.pid)
        if request.account is not None:
            sandbox.kill_account(request.account.uid)
    run.seconds = round(time.monotonic() - started, 3)
    output.close()
    run.log = log_path.read_bytes().decode("utf-8", "replace")  # at most HEAD + TAIL bytes
    accepted = _read_records(run, results_path, master, request)
    taken = keys_written - _keys_left(keys_copy)
    # A run killed while signing may have taken one key for a record it never wrote.
    if taken > accepted + (0 if run.finished else 1):
        run.integrity.append(
            f"results channel: {taken} keys taken for {accepted} records that arrived "
            "(records hidden, or keys taken by someone else)"
        )
    if run.returncode == 111 and not run.collected:
        run.integrity.append("the grader could not confine the run (see the log)")
    return run


def _normalise(nodeid: str) -> str:
    return HIDDEN_FOLDER.sub("hidden", nodeid)


def _read_records(run: Run, path: Path, master: bytes, request: Request) -> int:
    """Check and read the records; returns how many were genuine and in order."""
    expected_seq, pid, bad = 0, None, 0
    phases: dict[str, dict[str, dict]] = {}
    tampered: list[str] = []
    with path.open("rb") as f:
        data = f.read(256 * 1024 * 1024)
    key = record_key(master, expected_seq)
    for line in data.splitlines():
        payload, _, signature = line.rpartition(b" ")
        good = hmac.new(key, payload, sha256).hexdigest().encode()
        if not payload or not hmac.compare_digest(signature, good):
            bad += 1  # forged, or signed with a key someone else read first: every later one too
            continue
        record = json.loads(payload)
        if record.get("seq") != expected_seq or (pid is not None and record.get("pid") != pid):
            run.integrity.append("results channel: records out of order")
            break
        expected_seq += 1
        key = record_key(master, expected_seq)
        pid = record.get("pid")
        kind = record.get("kind")
        tampered += [t for t in record.get("tampered", ()) if t not in tampered]
        if kind == "collected":
            run.collected = [
                {"nodeid": _normalise(i["nodeid"]), "task": i["task"], "file": i["file"]}
                for i in record["items"]
            ]
        elif kind == "collect_error":
            run.collect_errors.append(
                {"nodeid": _normalise(record["nodeid"]), "message": record["message"]}
            )
        elif kind == "test":
            phases.setdefault(_normalise(record["nodeid"]), {})[record["when"]] = record
        elif kind == "finish":
            run.finished = True
    if tampered:
        run.integrity.append("pytest or the harness tampered with: " + ", ".join(tampered[:10]))
    if bad:
        run.integrity.append(f"results channel: {bad} line(s) not signed by the harness (forged)")
    tasks = {item["nodeid"]: item["task"] for item in run.collected}
    for nodeid, by_phase in phases.items():
        run.tests[nodeid] = _combine(by_phase, tasks.get(nodeid))
    if request.sentinels is not None:
        _check_sentinels(run, request.sentinels)
    return expected_seq


def _combine(by_phase: dict[str, dict], task: int | None) -> TestOutcome:
    """One outcome from setup / call / teardown: passed only when every phase passed."""
    duration = sum(r.get("duration", 0) for r in by_phase.values())
    for when in ("setup", "call", "teardown"):
        record = by_phase.get(when)
        if record is None:
            if when == "call" and by_phase.get("setup", {}).get("outcome") == "passed":
                return TestOutcome("error", "the test never finished", task, duration)
            continue
        if record["outcome"] == "failed":
            status = "failed" if when == "call" else "error"
            return TestOutcome(status, record.get("message", ""), task, duration)
        if record["outcome"] == "skipped" or record.get("xfail"):
            return TestOutcome("skipped", record.get("message", ""), task, duration)
    if "call" not in by_phase:
        return TestOutcome("error", "the test never ran", task, duration)
    return TestOutcome("passed", "", task, duration)


def _check_sentinels(run: Run, sentinels: Sentinels) -> None:
    def outcome(name: str) -> str | None:
        for nodeid, result in run.tests.items():
            if nodeid.endswith(f"{sentinels.filename}::test_{name}"):
                return result.status
        return None

    passing, failing = outcome(sentinels.passing), outcome(sentinels.failing)
    # They run at random places: a run cut short may not have reached them; a finished one has.
    wrong = passing not in (None, "passed") or failing not in (None, "failed")
    if wrong or (run.finished and None in (passing, failing)):
        run.integrity.append(
            f"sentinels wrong: the one that must pass {passing or 'did not run'}, "
            f"the one that must fail {failing or 'did not run'}"
        )
    run.tests = {k: v for k, v in run.tests.items() if sentinels.filename not in k}
    run.collected = [i for i in run.collected if i["file"] != sentinels.filename]


def course_request(
    folder: Path,
    workspace: Path,
    lab_id: str,
    timeout: float,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> Request:
    """A course-side run (``grader check``, the planted mistakes): the usual limits, no account
    and no jail; its private folder and tmp under ``folder`` (run it with
    ``execute(request, harness_folder(folder))``, as often as needed)."""
    tmp = folder / "tmp"
    tmp.mkdir()
    return Request(
        workspace=workspace,
        lab_id=lab_id,
        private=new_private(folder),
        tmp=tmp,
        limits=Limits(timeout=timeout, test_timeout=60, memory_mb=4096, processes=4096),
        extra_args=extra_args,
        extra_env=extra_env or {},
    )


def new_private(base: Path) -> Path:
    path = Path(tempfile.mkdtemp(prefix="private-", dir=base))
    os.chmod(path, 0o700)
    return path


def signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            pass
    return str(code)
