"""The drift loop: one leader per pod publishes the report every worker serves; leadership moves
when the leader dies; status changes are logged; shutdown is bounded even mid-computation."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from structlog.testing import capture_logs

from app.drift.binning import Binner
from app.drift.monitor import LOCK_FILE, DriftMonitor, LeaderLock
from app.drift.report import DriftAnalysis
from app.model.encoding import Encoder
from app.model.profile import ReferenceProfile
from app.settings import DriftSettings
from examples.churn.generator import CONTRACT, SHIFTS, generate
from tests.conftest import BUNDLED_MODEL_DIR

PROFILE = ReferenceProfile.load(BUNDLED_MODEL_DIR / "reference_profile.json", CONTRACT)
ANALYSIS = DriftAnalysis(Binner(CONTRACT, PROFILE), DriftSettings(min_samples=200).thresholds())
ENCODER = Encoder(CONTRACT)


class Traffic:
    """Cumulative counts, as the pod's files would hold them."""

    def __init__(self) -> None:
        self.counts = np.zeros(ANALYSIS.size, dtype=np.int64)

    def send(self, population: str, rows: int, seed: int) -> None:
        matrix = ENCODER.encode_columns(generate(rows, seed, SHIFTS[population]).columns)
        # The features' bins only: the prediction's stay at zero.
        indices = ANALYSIS.binner.indices(matrix).ravel()
        self.counts += np.bincount(indices, minlength=ANALYSIS.size)

    def snapshot(self) -> np.ndarray:
        return self.counts.copy()


def monitor(directory: Path | None, traffic: Traffic, clock: list[float]) -> DriftMonitor:
    return DriftMonitor(
        analysis=ANALYSIS, snapshot=traffic.snapshot, windows_s=[10, 60], interval_s=0.05,
        directory=directory, model_version="v1", clock=lambda: clock[0],
    )  # fmt: skip


def ticks(leader: DriftMonitor, clock: list[float], seconds: float, every: float = 5) -> dict:  # type: ignore[type-arg]
    report = {}
    for _ in range(int(seconds / every)):
        clock[0] += every
        report = leader.tick().as_dict()
    return report


def test_windows_see_only_recent_traffic(tmp_path: Path) -> None:
    traffic, clock = Traffic(), [1000.0]
    leader = monitor(tmp_path, traffic, clock)
    leader.tick()
    traffic.send("reference", 1000, seed=1)
    ticks(leader, clock, 25)
    traffic.send("older", 500, seed=2)
    report = ticks(leader, clock, 10)
    short, long = report["windows"]["10s"], report["windows"]["60s"]
    assert short["features"]["age"]["count"] == 500  # only the shifted traffic
    assert short["features"]["age"]["status"] == "drift"
    assert long["features"]["age"]["count"] == 1500
    assert long["covered_seconds"] == 35


def test_every_worker_serves_the_leader_s_report(tmp_path: Path) -> None:
    traffic, clock = Traffic(), [0.0]
    leader, follower = monitor(tmp_path, traffic, clock), monitor(tmp_path, traffic, clock)
    assert leader.lock.try_acquire()
    assert not follower.lock.try_acquire()
    published = leader.tick()
    served = follower.report()
    assert served is not None
    assert served.as_dict() == json.loads(json.dumps(published.as_dict()))
    assert served.as_dict()["leader_pid"] == os.getpid()
    leader.lock.release()
    assert follower.lock.try_acquire()


def test_the_lock_is_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({str(tmp_path / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        lock = LeaderLock(tmp_path)
        assert not lock.try_acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        assert lock.try_acquire()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout:
            holder.stdout.close()


def test_a_new_leader_inherits_the_window_history(tmp_path: Path) -> None:
    traffic, clock = Traffic(), [0.0]
    first = monitor(tmp_path, traffic, clock)
    first.tick()
    traffic.send("reference", 300, seed=3)
    ticks(first, clock, 20)
    first.lock.release()
    traffic.send("older", 300, seed=4)
    clock[0] += 5
    second = monitor(tmp_path, traffic, clock)
    report = second.tick().as_dict()
    assert report["windows"]["60s"]["features"]["age"]["count"] == 600
    assert report["windows"]["10s"]["features"]["age"]["count"] == 300


def test_status_changes_are_logged_once(tmp_path: Path) -> None:
    traffic, clock = Traffic(), [0.0]
    leader = monitor(tmp_path, traffic, clock)
    leader.tick()
    traffic.send("older", 400, seed=5)
    clock[0] += 1
    with capture_logs() as logs:
        leader.tick()
        clock[0] += 1
        leader.tick()  # nothing new: no second event
    changes = [e for e in logs if e["event"] == "drift status changed" and e["feature"] == "age"]
    assert {(e["window"], e["previous"], e["status"]) for e in changes} == {
        ("10s", "insufficient_data", "drift"), ("60s", "insufficient_data", "drift"),
    }  # fmt: skip


def test_a_tick_hands_the_core_back_between_its_steps(tmp_path: Path) -> None:
    # The computation's thread sleeps before each window's statistics and before the
    # publication (README: Performance), and computes what a tick without pauses computes.
    paused: list[float] = []
    traffic, clock = Traffic(), [0.0]
    traffic.send("older", 400, seed=5)
    plain = monitor(tmp_path / "plain", traffic, clock)
    paced = DriftMonitor(
        analysis=ANALYSIS, snapshot=traffic.snapshot, windows_s=[10, 60], interval_s=0.05,
        directory=tmp_path / "paced", model_version="v1", clock=lambda: clock[0],
        step_pause_s=0.003, sleep=paused.append,
    )  # fmt: skip
    for directory in (tmp_path / "plain", tmp_path / "paced"):
        directory.mkdir()
    clock[0] = 5.0
    assert paced.tick().windows == plain.tick().windows
    assert paused == [0.003, 0.003, 0.003]  # two windows, then the publication


def test_the_loop_runs_and_stops_within_its_bound_mid_computation(tmp_path: Path) -> None:
    traffic = Traffic()
    computing, release = threading.Event(), threading.Event()

    def slow_snapshot() -> np.ndarray:
        computing.set()
        release.wait(10)  # a computation far longer than the shutdown bound
        return traffic.snapshot()

    slow = DriftMonitor(
        analysis=ANALYSIS, snapshot=slow_snapshot, windows_s=[10], interval_s=0.01,
        directory=tmp_path, model_version="v1",
    )  # fmt: skip

    async def scenario() -> float:
        slow.start()
        assert await asyncio.to_thread(computing.wait, 5)
        started = time.monotonic()
        await slow.stop(timeout_s=0.5)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0
    assert not slow.lock.held
    # The abandoned computation ends here, not after the session.
    release.set()
    for thread in threading.enumerate():
        if thread.name == "drift-compute":
            thread.join(5)


def test_the_loop_publishes_on_its_own(tmp_path: Path) -> None:
    traffic, clock = Traffic(), [0.0]
    live = monitor(tmp_path, traffic, clock)

    async def scenario() -> None:
        live.start()
        for _ in range(250):  # up to 5 s
            if live.report() is not None:
                break
            await asyncio.sleep(0.02)
        await live.stop(timeout_s=1.0)

    asyncio.run(scenario())
    assert live.report() is not None
