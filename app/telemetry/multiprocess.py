"""gunicorn hooks for prometheus_client's multiprocess mode."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess, values

_pid = os.getpid()


def _refresh_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def cached_pid() -> int:
    """This process's id, refreshed in every forked child: ``os.getpid()`` without a syscall."""
    return _pid


def use_cached_pid() -> None:
    """Worker start (gunicorn ``post_fork``), before any metric exists: multiprocess values
    check the pid on every write, to notice a fork; give them the cached one. A request makes
    about ten writes. The rule the library sets (distinct values in concurrently running
    processes) holds: the cache is refreshed by every fork.
    """
    values.ValueClass = values.MultiProcessValue(process_identifier=cached_pid)


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
