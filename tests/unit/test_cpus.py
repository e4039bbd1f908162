"""How many processes the default starts: CPUs allowed, capped by a cgroup's quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from processor.instance.cpus import available_cpus, cgroup_cpus, parse_cpu_max, quota_cpus


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("200000 100000\n", 2),
        ("150000 100000", 2),  # a part of a CPU still needs a process
        ("50000 100000", 1),
        ("max 100000", None),
        ("", None),
        ("lots 100000", None),
    ],
)
def test_cgroup_v2_cpu_max_gives_whole_cpus(text: str, cpus: int | None) -> None:
    assert parse_cpu_max(text) == cpus


def test_cgroup_v1_minus_one_is_no_quota() -> None:
    assert quota_cpus(-1, 100_000) is None
    assert quota_cpus(300_000, 100_000) == 3


def test_the_v2_file_is_read_first(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert cgroup_cpus(tmp_path) == 1


def test_v1_files_are_read_without_v2(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpus(tmp_path) == 4


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpus(tmp_path) is None
    assert available_cpus(tmp_path) == len(os.sched_getaffinity(0))


def test_a_quota_caps_the_cpus_this_process_may_run_on(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert available_cpus(tmp_path) == 1
