"""Where a worker's drift counts live: in a file of its own that outlives it, summed per pod."""

import os
from pathlib import Path

import numpy as np

from app.drift.store import MemoryCounts, SharedCounts

VERSION = "churn-test"
SIZE = 6


def dead_workers_file(directory: Path, pid: int, counts: list[int]) -> Path:
    """What a worker killed with this pid left behind: raw int64 cells, as it wrote them."""
    path = directory / f"drift_{VERSION}_{pid}.counts"
    np.asarray(counts, dtype=np.int64).tofile(path)
    return path


def test_a_worker_that_gets_a_dead_workers_pid_adds_to_its_counts(tmp_path: Path) -> None:
    """pids are reused: a new worker with a dead one's pid must not wipe the dead one's counts
    (pod totals would go backwards, and windows turn negative)."""
    path = dead_workers_file(tmp_path, os.getpid(), [5, 0, 7, 0, 0, 1])
    store = SharedCounts(tmp_path, VERSION, SIZE)
    store.add_one_each([0, 3])
    store.add(np.array([0, 0, 0, 0, 2, 0]))
    assert store.total().tolist() == [6, 0, 7, 1, 2, 1]
    assert np.fromfile(path, dtype=np.int64).tolist() == [6, 0, 7, 1, 2, 1]


def test_a_pod_total_sums_live_and_dead_workers(tmp_path: Path) -> None:
    dead_workers_file(tmp_path, 1, [1, 1, 1, 1, 1, 1])
    dead_workers_file(tmp_path, 2, [0, 2, 0, 2, 0, 2])
    store = SharedCounts(tmp_path, VERSION, SIZE)
    store.add_one_each([5])
    assert store.total().tolist() == [1, 3, 1, 3, 1, 4]


def test_a_file_of_another_layout_is_left_out_of_the_total(tmp_path: Path) -> None:
    dead_workers_file(tmp_path, 1, [9, 9, 9])
    store = SharedCounts(tmp_path, VERSION, SIZE)
    store.add_one_each([0])
    assert store.total().tolist() == [1, 0, 0, 0, 0, 0]


def test_a_forked_worker_writes_its_own_file(tmp_path: Path) -> None:
    store = SharedCounts(tmp_path, VERSION, SIZE)
    store.add_one_each([1])
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        store.add_one_each([2])
        os._exit(0)
    os.waitpid(child, 0)
    assert [p.name for p in store.files()] == sorted(
        [f"drift_{VERSION}_{os.getpid()}.counts", f"drift_{VERSION}_{child}.counts"]
    )
    assert store.total().tolist() == [0, 1, 1, 0, 0, 0]


def test_memory_counts_add_up() -> None:
    store = MemoryCounts(SIZE)
    store.add_one_each([0, 5])
    store.add(np.array([1, 0, 0, 0, 0, 1]))
    assert store.total().tolist() == [2, 0, 0, 0, 0, 2]
