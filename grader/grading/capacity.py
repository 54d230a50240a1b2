"""How many runs at once this machine or container holds: its cgroup's CPU quota and memory limit.

``os.cpu_count()`` is the host's cores; in a container (Gradescope's, say: 1 CPU and 768 MB) that
overcommits, the out-of-memory killer ends runs and a slow run fails its tests. cgroup v2
(``cpu.max``, ``memory.max``) is read first, then v1 (``cpu.cfs_quota_us``, ``memory.limit_in_bytes``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
RUN_MEMORY = 512 * 1024 * 1024  # what one lab's pytest run (and its app servers) needs, at most


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup(root: Path) -> Path:
    """This process's cgroup v2 folder (``/proc/self/cgroup``'s ``0::/path``), else the root."""
    text = _read(Path("/proc/self/cgroup")) or ""
    for line in text.splitlines():
        if line.startswith("0::"):
            folder = root / line[3:].lstrip("/")
            if folder.is_dir():
                return folder
    return root


def cpu_limit(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup may use (quota / period), or None when unlimited or unknown."""
    folder = _own_cgroup(root)
    for where in (folder, *folder.parents):
        text = _read(where / "cpu.max")
        if text and not text.startswith("max"):
            quota, _, period = text.partition(" ")
            return int(quota) / int(period or 100000)
        if where == root:
            break
    quota = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu.cfs_quota_us")
    period = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu.cfs_period_us")
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def memory_limit(root: Path = CGROUP) -> int | None:
    """Bytes the cgroup may use, or None when unlimited or unknown."""
    folder = _own_cgroup(root)
    for where in (folder, *folder.parents):
        text = _read(where / "memory.max")
        if text and text != "max":
            return int(text)
        if where == root:
            break
    text = _read(root / "memory" / "memory.limit_in_bytes") or _read(root / "memory.limit_in_bytes")
    if text and int(text) < 1 << 60:  # v1 says "no limit" with a huge number
        return int(text)
    return None


def jobs(root: Path = CGROUP) -> int:
    """Parallel runs: the cores this process may use, fewer under a CPU quota or memory limit."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    cpus = cpu_limit(root)
    if cpus is not None:
        cores = min(cores, max(1, math.floor(cpus)))
    memory = memory_limit(root)
    if memory is not None:
        cores = min(cores, max(1, memory // RUN_MEMORY))
    return max(1, cores)


def describe(root: Path = CGROUP) -> str:
    cpus, memory = cpu_limit(root), memory_limit(root)
    quota = f"{cpus:g} CPU" if cpus is not None else "no CPU quota"
    mem = f"{memory // 2**20} MB" if memory is not None else "no memory limit"
    return f"{jobs(root)} parallel run(s) ({quota}, {mem})"
