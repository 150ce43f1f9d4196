"""The one background loop: windowed drift statistics, computed once per pod.

Every worker runs the loop; one holds the leader lock (``fcntl.flock`` on a file in the
multiprocess directory, released by the kernel when its holder dies, so another worker takes over
at its next tick). The leader snapshots the pod's merged counts, computes each window's
statistics and statuses, and publishes the report to a file every worker serves from. Its window
history is saved beside the report, so a new leader carries on with it.

The computation runs on a daemon thread: the event loop never waits on it, and shutdown never
waits for it longer than the bound it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import structlog

from app.drift.report import DriftAnalysis, PublishedReport, WindowReport
from app.drift.status import Status
from app.drift.windows import History, Snapshot

logger = logging.getLogger("glassbox.drift")
events = structlog.get_logger("glassbox.drift")

LOCK_FILE = "drift-leader.lock"
REPORT_FILE = "drift-report.json"
HISTORY_FILE = "drift-history.npz"
T = TypeVar("T")


def window_name(seconds: float) -> str:
    return f"{seconds:g}s"


class LeaderLock:
    """An exclusive, non-blocking flock; None directory means a single process, always leader."""

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / LOCK_FILE if directory else None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self.path is None or self._fd is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """Run fn on a fresh daemon thread; cancelling the await abandons the thread, never waits."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop may be gone: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name="drift-compute", daemon=True).start()
    return await future


class DriftMonitor:
    def __init__(
        self,
        *,
        analysis: DriftAnalysis,
        snapshot: Callable[[], np.ndarray],
        windows_s: Sequence[float],
        interval_s: float,
        directory: Path | None,
        model_version: str,
        clock: Callable[[], float] = time.time,
        step_pause_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.analysis = analysis
        self.snapshot = snapshot
        self.windows_s = sorted(windows_s)
        self.interval_s = interval_s
        self.directory = directory
        self.model_version = model_version
        self.clock = clock
        # A tick's thread sleeps this long before each window and before publishing: each step
        # holds the GIL and the worker's core for a few ms, and a pause hands them back to the
        # event loop between steps instead of one long stall.
        self.step_pause_s = step_pause_s
        self._sleep = sleep
        self.lock = LeaderLock(directory)
        self.history = History(max(self.windows_s))
        self._published: PublishedReport | None = None
        self._task: asyncio.Task[None] | None = None

    # --- serving ------------------------------------------------------------------------------
    def report(self) -> PublishedReport | None:
        """The last published report (the same for every worker), or None before the first
        (and for a torn file, or one of another model)."""
        if self.directory is None:
            return self._published
        try:
            report = PublishedReport.model_validate_json(
                (self.directory / REPORT_FILE).read_bytes()
            )
        except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
            return None
        if report.model_version != self.model_version:
            return None
        return report

    # --- the loop -----------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="drift-monitor")

    async def stop(self, timeout_s: float) -> None:
        """Cancel the loop; return within timeout_s even if a computation is running."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=timeout_s)
        self.lock.release()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                if self.lock.try_acquire():
                    await in_daemon_thread(self.tick)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("drift computation failed; retrying at the next interval")

    def tick(self) -> PublishedReport:
        """One computation (the leader's): snapshot, windows, statuses, publish."""
        if len(self.history) == 0:
            self._start_history()
        now = Snapshot(self.clock(), self.snapshot())
        windows = {}
        for seconds in self.windows_s:
            self._pause()
            counts = self.history.window(now, seconds)
            section = self.analysis.section(counts.counts)
            windows[window_name(seconds)] = WindowReport(
                seconds=seconds,
                covered_seconds=round(counts.covered_seconds, 3),
                features=section.features,
                prediction=section.prediction,
            )
        self.history.add(now)
        report = PublishedReport(
            model_version=self.model_version,
            computed_at=datetime.fromtimestamp(now.at, UTC).isoformat().replace("+00:00", "Z"),
            computed_at_seconds=now.at,
            leader_pid=os.getpid(),
            interval_seconds=self.interval_s,
            thresholds=self.analysis.thresholds,
            windows=windows,
        )
        self._pause()
        # The last report is this leader's own once it has published one (a leader keeps the
        # lock until it exits): read back from the file only after taking over.
        previous = self._published
        if previous is None and self.directory is not None:
            previous = self.report()
        self._log_changes(previous, report)
        self._publish(report)
        return report

    def _pause(self) -> None:
        if self.step_pause_s > 0:
            self._sleep(self.step_pause_s)

    def _start_history(self) -> None:
        """Inherit the previous leader's history, or start from zero counts now."""
        if self.directory is not None:
            self.history.load(self.directory / HISTORY_FILE)
        if len(self.history) == 0:
            self.history.add(Snapshot(self.clock(), np.zeros(self.analysis.size, dtype=np.int64)))

    def _publish(self, report: PublishedReport) -> None:
        self._published = report
        if self.directory is None:
            return
        tmp = self.directory / (REPORT_FILE + ".tmp")
        tmp.write_bytes(report.model_dump_json().encode())
        tmp.replace(self.directory / REPORT_FILE)
        self.history.save(self.directory / HISTORY_FILE)

    @staticmethod
    def _log_changes(previous: PublishedReport | None, report: PublishedReport) -> None:
        for window, section in report.windows.items():
            before = previous.windows.get(window) if previous is not None else None
            old_entries = before.entries() if before is not None else {}
            for name, entry in section.entries().items():
                old_entry = old_entries.get(name)
                old = old_entry.status.value if old_entry is not None else None
                if old != entry.status:
                    level = "warning" if entry.status in (Status.WARNING, Status.DRIFT) else "info"
                    getattr(events, level)(
                        "drift status changed", logger="glassbox.drift", feature=name,
                        window=window, previous=old,
                        status=entry.status.value, psi=entry.psi,
                        js_distance=entry.js_distance, count=entry.count,
                    )  # fmt: skip
