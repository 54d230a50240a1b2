"""Start one graded test run confined: resource limits, an unprivileged uid, maybe its own network.

Run as ``python -I -S confine.py <fd>`` (standard library only, no site-packages: it runs as root
before dropping privileges, so it must not import anything a student could shadow), inside a
bubblewrap jail (``grader.grading.sandbox``) or, as a fallback, on the host. It reads its orders
as JSON from the pipe ``<fd>``::

    {"argv": [...], "env": {...}, "cwd": "...", "uid": 1001 | null, "gid": 1001 | null,
     "net": "netns" | "userns" | "none", "limits": {"AS": bytes, "NPROC": n, ...},
     "key_fd": 4, "out_fd": 5, "sentinel": "test_x.py"}

then, in this order: leaves the network (a namespace of its own has nothing but its own loopback,
which it brings up so tests can serve apps on 127.0.0.1; the host's 127.0.0.1 is out of reach, and
a PostgreSQL unix socket is a file, so the database still works), sets the limits, ignores
SIGXFSZ (a write past the file-size limit then fails with an error the test sees, instead of
killing the run), drops to ``uid``/``gid`` with no supplementary groups, puts the key in a
hands the harness plugin its two descriptors (the per-record keys the grader wrote ahead, the results
channel), and replaces itself with ``argv``. No key ever passes through here: the grader keeps the
master key. Exit status 111: confinement failed.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")


def _loopback_up() -> None:
    """Bring up the namespace's own loopback: tests serve and call apps on 127.0.0.1."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def confine(orders: dict) -> None:
    if orders["net"] == "netns":
        _unshare(CLONE_NEWNET)
        _loopback_up()
    elif orders["net"] == "userns":
        _unshare(CLONE_NEWUSER | CLONE_NEWNET)
        _loopback_up()
    for name, value in orders["limits"].items():
        kind = getattr(resource, "RLIMIT_" + name)
        resource.setrlimit(kind, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if orders.get("uid") is not None:
        os.setgroups([])
        os.setgid(orders["gid"])
        os.setuid(orders["uid"])
        if os.getuid() == 0 or os.geteuid() == 0:
            raise OSError("still root after setuid")
    os.umask(0o077)
    os.chdir(orders["cwd"])


def main() -> None:
    fd = int(sys.argv[1])
    with os.fdopen(fd, "rb") as f:
        orders = json.loads(f.read())
    try:
        confine(orders)
    except OSError as exc:
        print(f"grader: could not confine the run: {exc}", file=sys.stderr, flush=True)
        os._exit(111)
    env = dict(orders["env"])
    if orders.get("key_fd") is not None:
        for fd in (orders["key_fd"], orders["out_fd"]):
            os.set_inheritable(fd, True)
        env["GRADER_HARNESS"] = (
            f"{orders['key_fd']}:{orders['out_fd']}:{orders.get('sentinel', '')}"
        )
    os.execve(orders["argv"][0], orders["argv"], env)


if __name__ == "__main__":
    main()
