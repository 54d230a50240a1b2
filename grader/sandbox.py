"""What confinement this machine allows a graded run, and the accounts and clean-up it needs.

- As root: one unprivileged account per parallel slot (``sanicms-grade0`` ...), created with
  ``useradd`` when missing. One per slot because the process limit counts every process of a user:
  a fork bomb in one job must not starve the job next to it, and when a job ends every process of
  its account can be killed without touching anyone else's.
- The network: a namespace of its own (root), else a user+network namespace (unprivileged, where
  the kernel allows it), else none. It is only used when the database can be reached through a
  unix socket, since the namespace has no working interface at all.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from grader import relay

CONFINE = Path(__file__).resolve().with_name("confine.py")
USER_PREFIX = "sanicms-grade"
SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")
LOCK_DIR = Path("/run/lock") if Path("/run/lock").is_dir() else Path("/tmp")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


@dataclass
class Isolation:
    """How graded runs are confined on this machine, for the run and for the report."""

    accounts: list[Account] = field(default_factory=list)  # empty: runs as the grader's user
    locks: list[int] = field(default_factory=list)  # held while the accounts are in use
    net: str = "none"  # "netns", "userns" or "none"
    socket_dir: str | None = None  # where the database is reached from inside the namespace
    notes: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        user = (
            f"unprivileged accounts {self.accounts[0].name}..{self.accounts[-1].name}"
            if self.accounts
            else "the grader's own user (not root: no account switch)"
        )
        net = {
            "netns": "own network namespace (no network; database over its unix socket)",
            "userns": "own user+network namespace (no network; database over its unix socket)",
            "none": "NOT isolated",
        }[self.net]
        return [f"user: {user}", f"network: {net}", *self.notes]


def is_root() -> bool:
    return os.geteuid() == 0


def _ensure_account(name: str) -> Account:
    for attempt in range(10):
        try:
            entry = pwd.getpwnam(name)
            return Account(name, entry.pw_uid, entry.pw_gid)
        except KeyError:
            pass
        done = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode not in (0, 9):  # 9: created meanwhile; else /etc/passwd was busy
            time.sleep(0.1 * (attempt + 1))
    raise RuntimeError(f"could not create the account {name}: {done.stderr.strip()}")


def claim_accounts(count: int) -> tuple[list[Account], list[int]]:
    """``count`` accounts no other grader on this machine is using, created when missing (root).

    Each is held by an exclusive lock on ``<LOCK_DIR>/<name>.lock`` for as long as the returned
    descriptors stay open: two graders at once (two courses, or a test suite next to a batch)
    must never share an account, since a job kills every process of its account when it ends.
    """
    accounts, locks = [], []
    index = 0
    while len(accounts) < count:
        name = f"{USER_PREFIX}{index}"
        index += 1
        fd = os.open(LOCK_DIR / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        accounts.append(_ensure_account(name))
        locks.append(fd)
    return accounts, locks


def release(locks: list[int]) -> None:
    for fd in locks:
        os.close(fd)
    locks.clear()


def grant_traversal(paths: list[Path]) -> list[str]:
    """Let other users reach ``paths`` (search permission, o+x, on each ancestor that lacks it).

    The venv's interpreter often lives under a home directory that is 0700 (``/root/.pyenv``).
    Search permission lets an account open a path it already knows; it cannot list the folder.
    Returns what was changed, for the report.
    """
    changed = []
    for path in paths:
        for folder in [path.resolve(), *path.resolve().parents]:
            if not folder.is_dir():
                continue
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(folder, mode | stat.S_IXOTH)
                changed.append(f"granted search permission (o+x) on {folder}")
    return changed


def database_socket_dir(dsn: str) -> str | None:
    """The unix-socket folder of the server behind ``dsn`` when it is on this machine, else None."""
    parts = urlsplit(dsn)
    if parts.hostname not in (None, "", "127.0.0.1", "localhost", "::1"):
        return None
    port = parts.port or 5432
    for folder in SOCKET_DIRS:
        path = Path(folder) / f".s.PGSQL.{port}"
        try:
            if stat.S_ISSOCK(path.stat().st_mode):
                probe = socket.socket(socket.AF_UNIX)
                probe.settimeout(1)
                probe.connect(str(path))
                probe.close()
                return folder
        except OSError:
            continue
    return None


def probe_network(mode: str) -> bool:
    """Whether ``confine.py`` can enter a network namespace of ``mode`` here."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import confine;"
        "confine._unshare(confine.CLONE_NEWNET if sys.argv[2] == 'netns'"
        " else confine.CLONE_NEWUSER | confine.CLONE_NEWNET)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(CONFINE.parent), mode],
        capture_output=True,
        timeout=10,
    )
    return done.returncode == 0


def detect(jobs: int, dsn: str, want_network_isolation: bool = True) -> Isolation:
    isolation = Isolation()
    if is_root():
        isolation.accounts, isolation.locks = claim_accounts(jobs)
    isolation.socket_dir = database_socket_dir(dsn)
    if isolation.socket_dir is None and is_root() and (private := relay.private_socket(dsn)):
        # The embedded server's socket sits in its private data folder: relay it (see relay.py).
        isolation.socket_dir = relay.start(private)
        isolation.notes.append(f"database reached through a socket relay in {isolation.socket_dir}")
    if not want_network_isolation:
        isolation.notes.append("network isolation turned off (--no-netns)")
    elif isolation.socket_dir is None:
        isolation.notes.append(
            "network not isolated: the database has no local unix socket, and a network "
            "namespace would cut the graded run off from it"
        )
    else:
        for mode in ("netns", "userns") if is_root() else ("userns",):
            if probe_network(mode):
                isolation.net = mode
                break
        else:
            isolation.notes.append("network not isolated: this kernel refuses a network namespace")
    return isolation


def processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def kill_account(uid: int) -> int:
    """Kill every process of ``uid`` (a slot's account), repeating until none is left."""
    killed = 0
    for _ in range(50):
        pids = processes_of(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return killed


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
