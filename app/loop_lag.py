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
    """``seconds`` is the smaller of the last two measurements: one stall (a slow request, a
    collection) that is already over leaves no queue behind it and sheds nothing, while a queue
    keeps every measurement high. Admission reads :meth:`now`, which is that or, while the loop
    is too busy to let the probe wake, how long the probe is overdue. ``peak`` is the largest
    single measurement since :meth:`take_peak`, for the gauge."""

    def __init__(
        self,
        interval_s: float,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.seconds = 0.0
        self.peak = 0.0
        self._due = float("inf")  # when the sleeping probe should wake
        self._clock = clock  # the clock and the sleep: the loop's own, or a test's
        self._sleep = sleep

    async def run(self) -> None:
        """Measure until cancelled (one task per worker, started by the lifespan)."""
        interval = self.interval_s
        clock, sleep = self._clock, self._sleep
        previous = 0.0
        while True:
            self._due = due = clock() + interval
            await sleep(interval)
            lag = max(clock() - due, 0.0)
            self.seconds = min(lag, previous)
            previous = lag
            if lag > self.peak:
                self.peak = lag

    def now(self) -> float:
        """The lag a request arriving now sees. Measurements alone answer one or two probe
        wakes late, and under a spike one pass of the loop can run far longer than that (every
        request read in the last pass runs in this one): the requests at the end of such a pass
        waited at least as long as the probe is overdue, so that counts too, read per request
        (one clock read)."""
        overdue = self._clock() - self._due
        return overdue if overdue > self.seconds else self.seconds

    def take_peak(self) -> float:
        peak, self.peak = self.peak, self.seconds
        return peak
