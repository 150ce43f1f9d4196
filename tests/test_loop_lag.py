"""The event-loop lag probe: each wake measures how late it woke and tells its listener; while
the loop is too busy to let the probe wake, how long it is overdue can be read at once; the
peak is the largest single measurement since it was last taken."""

import asyncio
import time

import pytest

from app.loop_lag import LoopLag

INTERVAL_S = 0.01


class Script(Exception):
    """The scripted loop has no more wakes."""


class ScriptedLoop:
    """A fake clock and sleep: each sleep wakes ``interval + lag`` later, the lags from a
    script; before each sleep it notes what the probe reads (the state after the wake before)."""

    def __init__(self, lags: list[float]) -> None:
        self.now = 100.0
        self.lags = list(lags)
        self.probe: LoopLag | None = None
        self.readings: list[tuple[float, float]] = []  # (last, peak)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert self.probe is not None
        self.readings.append((self.probe.last, self.probe.peak))
        if not self.lags:
            raise Script
        self.now += seconds + self.lags.pop(0)


def measure(lags: list[float]) -> tuple[LoopLag, list[tuple[float, float]]]:
    """Run the probe over ``lags``; its readings after each wake (the first: before any)."""
    loop = ScriptedLoop(lags)
    probe = LoopLag(INTERVAL_S, clock=loop.clock, sleep=loop.sleep)
    loop.probe = probe
    with pytest.raises(Script):
        asyncio.run(probe.run())
    return probe, loop.readings


def test_each_wake_is_one_measurement_told_to_the_listener() -> None:
    loop = ScriptedLoop([0.001, 0.050, 0.002])
    probe = LoopLag(INTERVAL_S, clock=loop.clock, sleep=loop.sleep)
    loop.probe = probe
    told: list[float] = []
    probe.on_measure = told.append
    with pytest.raises(Script):
        asyncio.run(probe.run())
    assert told == pytest.approx([0.001, 0.050, 0.002], abs=1e-9)
    assert [last for last, _ in loop.readings] == pytest.approx([0.0, 0.001, 0.050, 0.002])


def test_a_wake_earlier_than_asked_counts_as_no_lag() -> None:
    _, readings = measure([-0.005, -0.005])
    assert readings[-1] == (0.0, 0.0)


def test_the_peak_is_the_largest_single_measurement_until_it_is_taken() -> None:
    probe, readings = measure([0.004, 0.090, 0.003])
    assert [p for _, p in readings] == pytest.approx([0.0, 0.004, 0.090, 0.090], abs=1e-9)
    assert probe.take_peak() == pytest.approx(0.090, abs=1e-9)
    # Taken: from now on it starts again from the latest measurement.
    assert probe.take_peak() == pytest.approx(0.003, abs=1e-9)


def test_the_probe_is_overdue_only_once_its_wake_has_passed() -> None:
    """One pass of the loop running long: every measurement so far was on time, but the probe
    is 40 ms overdue, so a request read now has waited at least that long."""
    loop = ScriptedLoop([0.0, 0.0])
    probe = LoopLag(INTERVAL_S, clock=loop.clock, sleep=loop.sleep)
    loop.probe = probe
    assert probe.overdue() == -float("inf")  # not started: nothing is due
    with pytest.raises(Script):
        asyncio.run(probe.run())
    # Asleep again, due INTERVAL_S after its last wake.
    loop.now += INTERVAL_S / 2
    assert probe.overdue() == pytest.approx(-INTERVAL_S / 2, abs=1e-9)
    loop.now += INTERVAL_S / 2 + 0.040
    assert probe.overdue() == pytest.approx(0.040, abs=1e-9)
    assert probe.last == 0.0  # a reading, not a measurement: the peak and the last keep
    assert probe.peak == 0.0


def test_on_a_real_loop_a_blocking_callback_shows_as_lag() -> None:
    """The default clock and sleep: a callback that holds the loop for 80 ms makes the probe,
    due 10 ms after its last wake, wake at least 70 ms late (more on a loaded machine)."""

    async def scenario() -> tuple[float, float]:
        probe = LoopLag(INTERVAL_S)
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.05)  # a few quiet wakes
        probe.take_peak()
        time.sleep(0.08)  # noqa: ASYNC251 - on purpose: blocks the loop, the probe cannot wake
        overdue = probe.overdue()  # what a request read in this same pass sees
        await asyncio.sleep(0.05)
        task.cancel()
        return overdue, probe.take_peak()

    overdue, peak = asyncio.run(scenario())
    assert overdue >= 0.07
    assert peak >= 0.07
