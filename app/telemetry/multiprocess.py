"""gunicorn hooks for prometheus_client's multiprocess mode."""

from __future__ import annotations

import shutil
from pathlib import Path

from prometheus_client import multiprocess


def reset_dir(path: Path) -> None:
    """Empty the directory at master start: stale files from an earlier run would be merged.

    Its contents go, the directory itself stays: on Kubernetes it is an ``emptyDir`` mount
    point, which cannot be removed (EBUSY)."""
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def mark_worker_dead(pid: int, path: Path) -> None:
    """Drop a dead worker's live gauges; its counters and histograms stay in the totals."""
    multiprocess.mark_process_dead(pid, str(path))
