"""Where a worker's drift bin counts live (its rows' features' bins and its predictions' bins,
in the binner's layout), and how a pod's total is read.

In multiprocess mode every worker writes its own memory-mapped file in the multiprocess
directory (``drift_<model version>_<pid>.counts``, int64 per bin). A write lands in the page
cache before the response is sent, so a kill -9 loses no count of an answered request; a dead
worker's file stays, so its counts stay in the pod's totals (the directory is emptied when the
gunicorn master starts, like prometheus_client's own files), and a new worker that is given a
dead worker's pid adds to that worker's file rather than truncating it. Single-process (dev,
tests) keeps the counts in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

_CELL_BYTES = np.dtype(np.int64).itemsize


def _add_one_each(cells: memoryview, indices: Iterable[int]) -> None:
    """One count for each (distinct) index: one row's bins. Item by item on a memoryview, which
    for a dozen cells is several times cheaper than numpy's fancy indexing."""
    for i in indices:
        cells[i] += 1


class MemoryCounts:
    def __init__(self, size: int) -> None:
        self.size = size
        self._counts = np.zeros(size, dtype=np.int64)
        self._cells = self._counts.data

    def add(self, counts: np.ndarray) -> None:
        self._counts += counts

    def add_one_each(self, indices: Iterable[int]) -> None:
        _add_one_each(self._cells, indices)

    def prepare(self) -> None:
        """Nothing to open: the counts are in memory."""

    def total(self) -> np.ndarray:
        return self._counts.copy()


class SharedCounts:
    """This worker's file is created at its first write, so in the worker, after fork."""

    def __init__(self, directory: Path, model_version: str, size: int) -> None:
        self.directory = directory
        self.prefix = f"drift_{model_version}_"
        self.size = size
        self._counts: np.ndarray | None = None
        self._cells = memoryview(b"")
        self._pid = 0

    def _own(self) -> np.ndarray:
        pid = os.getpid()
        if self._counts is None or self._pid != pid:
            path = self.directory / f"{self.prefix}{pid}.counts"
            # A file this pid left is a dead worker's (pids are reused): its counts are part of
            # the pod's totals, so it is reopened and added to, never truncated. One of another
            # size belongs to another layout, which ``total`` ignores anyway.
            reopen = path.exists() and path.stat().st_size == self.size * _CELL_BYTES
            counts = np.memmap(
                path, dtype=np.int64, mode="r+" if reopen else "w+", shape=(self.size,)
            )
            # A plain ndarray over the same pages: the memmap subclass slows every operation.
            self._counts = counts.view(np.ndarray)
            self._cells = self._counts.data
            self._pid = pid
        return self._counts

    def prepare(self) -> None:
        """Open (or create) this worker's file now, adding nothing: the first request's
        write then finds it open (the warm-up before readiness, app/warm_up.py)."""
        self._own()

    def add(self, counts: np.ndarray) -> None:
        own = self._own()
        own += counts

    def add_one_each(self, indices: Iterable[int]) -> None:
        self._own()
        _add_one_each(self._cells, indices)

    def files(self) -> list[Path]:
        return sorted(self.directory.glob(f"{self.prefix}*.counts"))

    def total(self) -> np.ndarray:
        """The sum over every worker's file, live or dead, for this model version."""
        total = np.zeros(self.size, dtype=np.int64)
        for path in self.files():
            counts = np.fromfile(path, dtype=np.int64)
            if counts.shape == (self.size,):
                total += counts
        return total


def open_counts(
    directory: Path | None, model_version: str, size: int
) -> MemoryCounts | SharedCounts:
    if directory is None:
        return MemoryCounts(size)
    return SharedCounts(directory, model_version, size)
