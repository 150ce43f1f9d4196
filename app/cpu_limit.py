"""How many CPUs this process may use, for the default worker count: the cgroup v2 CPU quota
(``cpu.max``), capped by the affinity mask (else the CPU count).

In a pod limited to 2 CPUs on a 64-core node, ``os.cpu_count()`` says 64 and so, usually, does
the affinity mask: a CPU limit is a CFS quota (CPU time per period), not a set of cores. Only
``cpu.max`` says 2. A pod pinned to cores (the static CPU manager policy, ``taskset``) shows in
the affinity mask instead. cgroup v1 is not read: a v1-only host falls back to the mask.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Where cgroup v2 is mounted, and which cgroup this process is in ("0::/its/path").
CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")


def _quota_of(cpu_max: Path) -> float | None:
    """CPUs a ``cpu.max`` allows: ``"150000 100000"`` is 1.5, ``"max 100000"`` no limit."""
    try:
        fields = cpu_max.read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_quota(root: Path | None = None, self_cgroup: Path | None = None) -> float | None:
    """The CPUs cgroup v2 allows this process: the tightest ``cpu.max`` of its cgroup and of
    its ancestors up to the mount's root. None without a limit, or without cgroup v2."""
    root = root or CGROUP_ROOT
    try:
        lines = (self_cgroup or SELF_CGROUP).read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None:
        return None  # no unified (v2) hierarchy: cgroup v1 only
    parts = PurePosixPath(own).parts[1:]
    if ".." in parts:
        parts = ()  # outside this cgroup namespace's root: its root is what the mount shows
    quotas = []
    for depth in range(len(parts), -1, -1):
        quota = _quota_of(root.joinpath(*parts[:depth], "cpu.max"))
        if quota is not None:
            quotas.append(quota)
    return min(quotas, default=None)


@dataclass(frozen=True)
class CpuLimit:
    """What the process reads about its CPUs, and the rule that makes them a count."""

    quota: float | None  # cgroup v2 ``cpu.max``, in CPUs; None: no limit, or no cgroup v2
    affinity: int | None  # CPUs in the affinity mask
    count: int | None  # os.cpu_count(): the machine's

    @property
    def cpus(self) -> int:
        """The quota rounded up, capped by the affinity mask (else the CPU count); at least 1."""
        available = self.affinity or self.count or 1
        if self.quota is not None:
            available = min(available, math.ceil(self.quota))
        return max(1, available)

    def workers(self, threads_per_worker: int) -> int:
        """Workers of ``threads_per_worker`` model threads each that fit in :attr:`cpus`: at
        least one."""
        return max(1, self.cpus // threads_per_worker)


def read_cpu_limit(root: Path | None = None, self_cgroup: Path | None = None) -> CpuLimit:
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = None
    return CpuLimit(cgroup_cpu_quota(root, self_cgroup), affinity, os.cpu_count())
