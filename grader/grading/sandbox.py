"""What confinement this machine allows a graded run: a bubblewrap jail, or the older fallback.

- **bwrap** (the ``bubblewrap`` package, root or a kernel with unprivileged user namespaces): each
  run gets new PID, network, mount, IPC and UTS namespaces and sees only what :func:`jail_argv`
  binds in: its workspace (read-only), the interpreter and venv (read-only), ``/usr``, a few files
  of ``/etc``, the grader's harness, the batch database's socket, and its own empty ``/tmp`` and
  ``/dev/shm``. Nothing of the host's permissions changes: the bind mounts reach what a 0700 home
  folder hides. As root, each parallel slot also runs as a uid of its own (a number, no account):
  the process limit counts per uid, so a fork bomb in one job cannot starve the one next to it.
- **fallback** (no bwrap): one unprivileged account per slot (``useradd``), a network namespace
  when the kernel allows, search permission granted on the interpreter's folders; the summary says
  so. The network is only isolated when the database is reached through a unix socket.
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

from grader.grading import relay

CONFINE = Path(__file__).resolve().with_name("confine.py")
USER_PREFIX = "sanicms-grade"
SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")
LOCK_DIR = Path("/run/lock") if Path("/run/lock").is_dir() else Path("/tmp")
BWRAP = shutil.which("bwrap")
# Inside a jail: where the workspace, the grader's harness and the database socket appear.
JAIL_WORKSPACE = "/workspace"
JAIL_GRADER = "/grader"
JAIL_SOCKET_DIR = "/run/postgresql"
JAIL_UID_BASE = 1_900_000  # uids no account uses: a slot's runs are uid BASE+n inside and out
TMP_SIZE = 256 * 1024 * 1024  # bytes of the run's own /tmp (memory-backed) and /dev/shm
SHM_SIZE = 64 * 1024 * 1024


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
    net: str = "none"  # "netns", "userns" or "none" (in a jail: "jail" when isolated)
    socket_dir: str | None = None  # where the database is reached from inside the namespace
    notes: list[str] = field(default_factory=list)
    jail: bool = False  # runs go through bwrap (see the module docstring)

    def describe(self) -> list[str]:
        if self.jail:
            who = (
                f"uids {self.accounts[0].uid}..{self.accounts[-1].uid} (no accounts)"
                if self.accounts and is_root()
                else "the grader's user mapped in a user namespace"
            )
            net = "own network namespace" if self.net == "jail" else "NOT isolated (--no-netns)"
            return [
                f"bubblewrap jail: own PID, mount, IPC namespaces; {who}",
                f"network: {net}",
                *self.notes,
            ]
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


def claim_uids(count: int) -> tuple[list[Account], list[int]]:
    """``count`` uids for jailed runs, one per slot, locked like :func:`claim_accounts`.

    Plain numbers: no account is created. Inside the jail a made-up ``/etc/passwd`` names them.
    """
    slots, locks = [], []
    index = 0
    while len(slots) < count:
        uid = JAIL_UID_BASE + index
        index += 1
        path = LOCK_DIR / f"{USER_PREFIX}-uid{uid}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        slots.append(Account(f"uid{uid}", uid, uid))
        locks.append(fd)
    return slots, locks


def write_etc(folder: Path, accounts: list[Account]) -> Path:
    """A jail's ``/etc/passwd`` and ``/etc/group``: root, the slots' uids, nobody else's."""
    folder.mkdir(parents=True, exist_ok=True)
    users = [("root", 0, 0, "/root"), *((a.name, a.uid, a.gid, "/tmp") for a in accounts)]
    if not is_root():
        users.append(("grader", os.getuid(), os.getgid(), "/tmp"))
    passwd = "".join(f"{n}:x:{u}:{g}::{home}:/usr/sbin/nologin\n" for n, u, g, home in users)
    group = "".join(f"{n}:x:{g}:\n" for n, _, g, _ in users)
    (folder / "passwd").write_text(passwd)
    (folder / "group").write_text(group)
    for name in ("passwd", "group"):
        os.chmod(folder / name, 0o644)
    os.chmod(folder, 0o755)
    return folder


@dataclass(frozen=True)
class Jail:
    """What one jailed run sees of the host (everything else is absent)."""

    workspace: Path  # the host folder shown read-only at JAIL_WORKSPACE
    grader: Path  # the host folder holding the harness and confine.py, shown at JAIL_GRADER
    etc: Path  # the host folder holding the jail's passwd and group
    socket: Path | None = None  # the batch database's socket file, shown in JAIL_SOCKET_DIR
    network: bool = True  # False: the host's network stays visible (--no-netns)


# Files of the host's /etc a Python program reads in passing: the dynamic linker's cache, time
# zone, name resolution of "localhost", TLS roots, MIME types. Nothing with secrets.
ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/mime.types",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/alternatives",
)


def _folders_above(path: str, made: set[str]) -> list[str]:
    """Create ``path``'s missing ancestors in the jail as 0755 (bwrap would make them 0700, which
    keeps the run's uid from reaching a venv under /root or a 0700 checkout folder)."""
    args = []
    for parent in reversed(Path(path).parents):
        folder = str(parent)
        if folder in ("/", "/usr", "/tmp", "/dev", "/proc") or folder in made:
            continue
        made.add(folder)
        args += ["--perms", "0755", "--dir", folder]
    return args


def _bind(source: str, dest: str, made: set[str], how: str = "--ro-bind") -> list[str]:
    return [*_folders_above(dest, made), how, source, dest]


def _system_binds(made: set[str] | None = None) -> list[str]:
    made = set() if made is None else made
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for name in ETC_FILES:
        if os.path.exists(name):
            args += _bind(name, name, made)
    # The interpreter and its venv, at the paths they know themselves by (pyvenv.cfg, shebangs).
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix]):
        if not prefix.startswith("/usr/"):
            args += _bind(prefix, prefix, made)
    return args


def jail_argv(jail: Jail) -> list[str]:
    """The bwrap command line that starts a graded run's ``confine.py`` inside its jail."""
    assert BWRAP is not None
    args = [
        BWRAP,
        "--die-with-parent",  # the grader's watchdog killing bwrap takes the whole jail down
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "grader",
    ]
    if jail.network:
        args.append("--unshare-net")  # bwrap brings its loopback up: tests serve on 127.0.0.1
    if is_root():
        # Kept only so confine.py can drop to the slot's uid; bwrap drops every other capability.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args.append("--unshare-user")
    # Mounts apply in order: the fresh /tmp first, so a venv under /tmp is bound on top of it.
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", str(SHM_SIZE), "--tmpfs", "/dev/shm"]
    made: set[str] = set()
    args += _system_binds(made)
    args += _bind(str(jail.etc / "passwd"), "/etc/passwd", made)
    args += _bind(str(jail.etc / "group"), "/etc/group", made)
    args += _bind(str(jail.workspace), JAIL_WORKSPACE, made)
    args += _bind(str(jail.grader), JAIL_GRADER, made)
    if jail.socket is not None:
        dest = f"{JAIL_SOCKET_DIR}/{jail.socket.name}"
        args += _bind(str(jail.socket), dest, made, how="--bind")
    args += ["--chdir", JAIL_WORKSPACE]
    return args


def probe_jail(folder: Path) -> str | None:
    """None when a jail starts here (bwrap present, namespaces allowed), else why not."""
    if BWRAP is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    (folder / "ws").mkdir(parents=True, exist_ok=True)
    (folder / "grader").mkdir(exist_ok=True)
    jail = Jail(folder / "ws", folder / "grader", write_etc(folder / "etc", []))
    try:
        done = subprocess.run(
            [*jail_argv(jail), sys.executable, "-I", "-S", "-c", "import os; os.listdir('/tmp')"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot start a jail here: {done.stderr.strip()[:300]}"
    return None


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


def detect(
    jobs: int, dsn: str, want_network_isolation: bool = True, scratch: Path | None = None
) -> Isolation:
    """The best confinement this machine allows (a jail, else the fallback; see module doc)."""
    why_not = probe_jail(scratch) if scratch is not None else "no scratch folder to probe bwrap"
    if why_not is None:
        isolation = Isolation(jail=True, net="jail" if want_network_isolation else "none")
        if is_root():
            isolation.accounts, isolation.locks = claim_uids(jobs)
        if not want_network_isolation:
            isolation.notes.append("network isolation turned off (--no-netns)")
        return isolation
    isolation = Isolation()
    isolation.notes.append(f"no bubblewrap jail ({why_not}): the fallback confinement is used")
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
