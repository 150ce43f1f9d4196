"""The worker's queueing signal: how late its event loop runs a callback that is due now.

A task sleeps ``interval`` and measures how much later than asked it woke. With inference
inline on the loop, every request waiting to be read, parsed or answered is a callback ahead of
the probe, so the lag is the time a request arriving now waits before the app sees it; an
in-flight count stays near 1 however long that queue is (README: Overload).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class LoopLag:
    """``last`` is the latest measurement, and every one is passed to ``on_measure`` (the
    admission policy's controller). ``overdue()`` is how long the sleeping probe is past its
    wake right now: while one pass of the loop runs long, no measurement can come, but the
    requests read late in that pass have waited at least that long. ``peak`` is the largest
    measurement since :meth:`take_peak`, for the gauge."""

    def __init__(
        self,
        interval_s: float,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.last = 0.0
        self.peak = 0.0
        self.on_measure: Callable[[float], None] | None = None
        self._due = float("inf")  # when the sleeping probe should wake
        self._clock = clock  # the clock and the sleep: the loop's own, or a test's
        self._sleep = sleep

    async def run(self) -> None:
        """Measure until cancelled (one task per worker, started by the lifespan)."""
        interval = self.interval_s
        clock, sleep = self._clock, self._sleep
        while True:
            self._due = due = clock() + interval
            await sleep(interval)
            self.last = lag = max(clock() - due, 0.0)
            if lag > self.peak:
                self.peak = lag
            if self.on_measure is not None:
                self.on_measure(lag)

    def overdue(self) -> float:
        """How long past its wake the probe is now (negative while it sleeps on time)."""
        return self._clock() - self._due

    def take_peak(self) -> float:
        peak, self.peak = self.peak, self.last
        return peak
