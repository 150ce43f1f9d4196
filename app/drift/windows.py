"""Windows over cumulative counts: the counts of the last W seconds are the totals now minus the
totals at (now - W). A history of snapshots of the pod's merged totals makes that possible; it is
thinned so that memory stays bounded whatever the interval, and it can be saved and loaded so a
new leader inherits it.
"""

from __future__ import annotations

import io
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Snapshots kept per longest window: the window's start is resolved to 1/RESOLUTION of it.
RESOLUTION = 120


@dataclass(frozen=True)
class Snapshot:
    at: float  # seconds, wall clock
    counts: np.ndarray  # the pod's cumulative counts (features, then prediction bins)


@dataclass(frozen=True)
class WindowCounts:
    counts: np.ndarray
    covered_seconds: float  # less than the window while the history is younger than it


class History:
    def __init__(self, longest_window_s: float) -> None:
        self.longest = longest_window_s
        self.spacing = longest_window_s / RESOLUTION
        self._snapshots: deque[Snapshot] = deque()

    def __len__(self) -> int:
        return len(self._snapshots)

    def add(self, snapshot: Snapshot) -> None:
        snaps = self._snapshots
        if snaps and snaps[-1].counts.shape != snapshot.counts.shape:
            snaps.clear()  # another layout (a new model): start over
        # Keep snapshots at least `spacing` apart: the newest is provisional, and is dropped when
        # the next one arrives if it sits closer than that to its predecessor.
        if len(snaps) >= 2 and snaps[-1].at - snaps[-2].at < self.spacing:
            snaps.pop()
        snaps.append(snapshot)
        # Drop what no window can reach, keeping one snapshot at or beyond the longest window.
        while len(snaps) >= 2 and snapshot.at - snaps[1].at >= self.longest:
            snaps.popleft()

    def window(self, now: Snapshot, seconds: float) -> WindowCounts:
        """Counts of the last ``seconds`` (or since the oldest snapshot, if that is newer)."""
        base = None
        for snap in self._snapshots:
            if now.at - snap.at >= seconds:
                base = snap  # the newest snapshot old enough
            else:
                break
        if base is None:
            base = self._snapshots[0] if self._snapshots else now
        return WindowCounts(now.counts - base.counts, now.at - base.at)

    def save(self, path: Path) -> None:
        """Atomically write the history (for the next leader)."""
        buffer = io.BytesIO()
        if self._snapshots:
            times = np.array([s.at for s in self._snapshots])
            counts = np.stack([s.counts for s in self._snapshots])
        else:
            times, counts = np.zeros(0), np.zeros((0, 0), dtype=np.int64)
        np.savez(buffer, times=times, counts=counts)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)

    def load(self, path: Path) -> None:
        try:
            with np.load(io.BytesIO(path.read_bytes())) as data:
                times, counts = data["times"], data["counts"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return  # nothing saved yet, or a torn file: start a fresh history
        self._snapshots = deque(
            Snapshot(float(t), c) for t, c in zip(times.tolist(), counts, strict=True)
        )
