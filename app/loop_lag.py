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
    """``seconds`` is the smaller of the last two measurements, read by admission on every
    request: one stall (a slow request, a collection) that is already over leaves no queue
    behind it and sheds nothing, while a queue keeps every measurement high. ``peak`` is the
    largest single measurement since :meth:`take_peak`, for the gauge."""

    def __init__(
        self,
        interval_s: float,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.seconds = 0.0
        self.peak = 0.0
        self._clock = clock  # the clock and the sleep: the loop's own, or a test's
        self._sleep = sleep

    async def run(self) -> None:
        """Measure until cancelled (one task per worker, started by the lifespan)."""
        interval = self.interval_s
        clock, sleep = self._clock, self._sleep
        previous = 0.0
        while True:
            due = clock() + interval
            await sleep(interval)
            lag = max(clock() - due, 0.0)
            self.seconds = min(lag, previous)
            previous = lag
            if lag > self.peak:
                self.peak = lag

    def take_peak(self) -> float:
        peak, self.peak = self.peak, self.seconds
        return peak
