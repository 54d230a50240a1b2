"""Parallel runs from the container's limits (Gradescope: 1 CPU, 768 MB), not the host's cores."""

from __future__ import annotations

import os

import pytest

from grader.grading import capacity


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_and_memory_limit(tmp_path):
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    (tmp_path / "memory.max").write_text(f"{768 * 2**20}\n")
    assert capacity.cpu_limit(tmp_path) == 1
    assert capacity.memory_limit(tmp_path) == 768 * 2**20
    assert capacity.jobs(tmp_path) == 1
    assert capacity.describe(tmp_path) == "1 parallel run(s) (1 CPU, 768 MB)"


def test_memory_alone_limits_the_runs(tmp_path):
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text(f"{2 * capacity.RUN_MEMORY}\n")
    assert capacity.cpu_limit(tmp_path) is None
    assert capacity.jobs(tmp_path) == min(_cores(), 2)


def test_cgroup_v1_files(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "memory").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert capacity.cpu_limit(tmp_path) == 0.5
    assert capacity.memory_limit(tmp_path) is None  # v1's "no limit"
    assert capacity.jobs(tmp_path) == 1  # half a CPU still runs one


@pytest.mark.parametrize("quota", ["300000 100000", "max 100000"])
def test_no_more_runs_than_cores(tmp_path, quota):
    (tmp_path / "cpu.max").write_text(quota)
    assert capacity.jobs(tmp_path) <= _cores()
