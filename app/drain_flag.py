"""The pod's drain flag: set once by the gunicorn master on SIGTERM, seen by every worker.

One byte in a file in the multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``, already shared
by the master and its workers), memory-mapped by each process. A worker reads the byte from its
own mapping of the same page, so a read is a memory load, not a system call (~40 ns; a
``stat`` of a flag file costs ~1 µs: ``make bench-drain`` measures both), and the master's
write is visible to every worker at once. The flag is shared state, not a per-worker guess: a
worker started during the drain (a replacement) maps the same byte and sees it set.

Where there is no master (``make dev``, an app built in-process) there is no file, and the flag
is never set.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

FLAG_FILE = "draining.flag"


class DrainFlag:
    def __init__(self, view: mmap.mmap | None = None) -> None:
        self._view = view

    @classmethod
    def create(cls, directory: Path) -> DrainFlag:
        """The master's flag, unset: call before any worker starts (after the directory is
        emptied at master start)."""
        path = directory / FLAG_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"\0")
            return cls(mmap.mmap(fd, 1, access=mmap.ACCESS_WRITE))
        finally:
            os.close(fd)  # the mapping keeps the page

    @classmethod
    def open(cls, directory: Path | None) -> DrainFlag:
        """A worker's view of its master's flag; never set if the master made none."""
        if directory is None:
            return cls()
        try:
            fd = os.open(directory / FLAG_FILE, os.O_RDONLY)
        except FileNotFoundError:
            return cls()
        try:
            return cls(mmap.mmap(fd, 1, access=mmap.ACCESS_READ))
        finally:
            os.close(fd)

    @property
    def is_set(self) -> bool:
        view = self._view
        return view is not None and view[0] != 0

    def set(self) -> None:
        """Start the drain (the master's call). A worker's read-only view refuses it."""
        if self._view is None:
            raise RuntimeError("no drain flag to set: the master creates it")
        self._view[0] = 1
