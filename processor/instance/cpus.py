"""How many CPUs this process may use: its affinity mask, capped by a container's CPU quota.

``os.cpu_count()`` reports the host's CPUs, so a pod limited to 2 CPUs on a 64-core node would
start 64 processes. The quota lives in cgroup v2's ``cpu.max`` ("200000 100000": two CPUs) or
cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; "max" or -1 means no quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_cpus(quota_us: int, period_us: int) -> int | None:
    """Whole CPUs a quota allows (rounded up, at least 1); None when there is no quota."""
    if quota_us <= 0 or period_us <= 0:
        return None
    return max(1, math.ceil(quota_us / period_us))


def parse_cpu_max(text: str) -> int | None:
    """cgroup v2 ``cpu.max``: "<quota> <period>" or "max <period>"."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return quota_cpus(int(parts[0]), int(parts[1]))
    except ValueError:
        return None


def cgroup_cpus(root: Path = CGROUP_ROOT) -> int | None:
    """The CPU quota of the cgroup this process runs in, if one is set and readable."""
    try:
        return parse_cpu_max((root / "cpu.max").read_text())
    except OSError:
        pass
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota = int((v1 / "cpu.cfs_quota_us").read_text())
            period = int((v1 / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota_cpus(quota, period)
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on, never more than its cgroup's quota allows; at least 1."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = os.cpu_count() or 1
    quota = cgroup_cpus(root)
    return max(1, min(allowed, quota) if quota is not None else allowed)
