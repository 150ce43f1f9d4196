"""The CPUs a pod may use: its cgroup v2 quota (``cpu.max``, rounded up), capped by the
affinity mask, else the CPU count; never the node's cores inside a 2-CPU pod. Fake cgroup trees
in a temp dir stand for /sys/fs/cgroup and /proc/self/cgroup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.cpu_limit import CpuLimit, cgroup_cpu_quota, read_cpu_limit

V1_ONLY = "12:cpu,cpuacct:/kubepods/pod1\n1:name=systemd:/kubepods/pod1\n"


def cgroup_tree(tmp_path: Path, own: str, cpu_max: dict[str, str]) -> tuple[Path, Path]:
    """A fake /sys/fs/cgroup (``cpu_max``: {cgroup path: file contents}) and a fake
    /proc/self/cgroup saying this process is in ``own``."""
    root = tmp_path / "cgroup"
    for path, text in cpu_max.items():
        directory = root / path.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cpu.max").write_text(text)
    root.mkdir(exist_ok=True)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(f"0::{own}\n")
    return root, self_cgroup


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("50000 100000\n", 0.5),
     ("200000 100000\n", 2.0), ("400000 200000\n", 2.0), ("", None), ("lots 100000", None)],
)  # fmt: skip
def test_the_quota_of_the_containers_own_cgroup(
    tmp_path: Path, text: str, cpus: float | None
) -> None:
    """In a container with its own cgroup namespace, /proc/self/cgroup says ``0::/`` and the
    container's limit is the mount's own cpu.max."""
    root, self_cgroup = cgroup_tree(tmp_path, "/", {"/": text})
    assert cgroup_cpu_quota(root, self_cgroup) == cpus


def test_the_tightest_quota_among_the_cgroup_and_its_ancestors(tmp_path: Path) -> None:
    """Without a cgroup namespace the path is the node's: the container's cgroup may say
    ``max`` while its pod's parent holds the limit."""
    root, self_cgroup = cgroup_tree(
        tmp_path, "/kubepods/pod1/ctr",
        {"/kubepods": "max 100000", "/kubepods/pod1": "200000 100000",
         "/kubepods/pod1/ctr": "max 100000"},
    )  # fmt: skip
    assert cgroup_cpu_quota(root, self_cgroup) == 2.0
    (root / "kubepods" / "pod1" / "ctr" / "cpu.max").write_text("150000 100000")
    assert cgroup_cpu_quota(root, self_cgroup) == 1.5


def test_no_quota_without_a_cpu_max_file(tmp_path: Path) -> None:
    """The root cgroup has no cpu.max; nor does a hierarchy without the cpu controller."""
    root, self_cgroup = cgroup_tree(tmp_path, "/user.slice", {})
    assert cgroup_cpu_quota(root, self_cgroup) is None


def test_no_quota_on_a_cgroup_v1_host(tmp_path: Path) -> None:
    """No ``0::`` line: cgroup v1 only (not read), whatever lies under the mount."""
    root, self_cgroup = cgroup_tree(tmp_path, "/", {"/": "100000 100000"})
    self_cgroup.write_text(V1_ONLY)
    assert cgroup_cpu_quota(root, self_cgroup) is None


def test_no_quota_without_proc_self_cgroup(tmp_path: Path) -> None:
    root, _ = cgroup_tree(tmp_path, "/", {"/": "100000 100000"})
    assert cgroup_cpu_quota(root, tmp_path / "absent") is None


def test_a_cgroup_outside_the_namespace_reads_the_mounts_root(tmp_path: Path) -> None:
    """A process moved out of its cgroup namespace's root sees ``0::/../..``: the mount shows
    only the namespace's root, whose cpu.max is the one there is."""
    root, self_cgroup = cgroup_tree(tmp_path, "/../..", {"/": "300000 100000"})
    assert cgroup_cpu_quota(root, self_cgroup) == 3.0


@pytest.mark.parametrize(
    ("limit", "cpus"),
    [(CpuLimit(quota=None, affinity=2, count=64), 2),  # no limit: the mask
     (CpuLimit(quota=2.0, affinity=64, count=64), 2),  # a 2-CPU pod on a 64-core node
     (CpuLimit(quota=1.5, affinity=64, count=64), 2),  # rounded up
     (CpuLimit(quota=0.5, affinity=64, count=64), 1),  # at least one
     (CpuLimit(quota=8.0, affinity=2, count=64), 2),  # pinned to 2 cores: the mask caps it
     (CpuLimit(quota=None, affinity=None, count=4), 4),  # no mask: the count
     (CpuLimit(quota=None, affinity=None, count=None), 1)],
)  # fmt: skip
def test_the_pods_cpus(limit: CpuLimit, cpus: int) -> None:
    assert limit.cpus == cpus


@pytest.mark.parametrize(
    ("cpus", "threads", "workers"), [(4, 1, 4), (4, 2, 2), (5, 2, 2), (2, 4, 1), (1, 1, 1)]
)
def test_workers_of_several_threads_share_the_cpus(cpus: int, threads: int, workers: int) -> None:
    assert CpuLimit(quota=None, affinity=cpus, count=64).workers(threads) == workers


def test_the_process_reads_its_own_affinity_and_count(tmp_path: Path) -> None:
    root, self_cgroup = cgroup_tree(tmp_path, "/", {"/": "150000 100000"})
    limit = read_cpu_limit(root, self_cgroup)
    assert limit.quota == 1.5
    assert limit.affinity == len(os.sched_getaffinity(0))
    assert limit.count == os.cpu_count()
