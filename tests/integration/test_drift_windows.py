"""Windowed drift on the real server: shifted traffic flips the shifted feature's status and
stationary traffic does not; the leader dies and another worker takes over; every worker serves
the same report."""

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from examples.churn.generator import SHIFTS, generate
from tests.support.metrics import value
from tests.support.processes import Server, gunicorn

# The window outlasts the whole test (every deadline below, the sends and the server's start
# together stay under it and under pytest's 120 s timeout): a report that lags cannot let the
# rows leave the window before an assertion sees them. A quick report still returns at once.
WINDOW_S = 120
WINDOW = f"{WINDOW_S}s"
REPORT_S = 25.0  # a report showing the rows just sent (counted, then flagged)
TAKEOVER_S = 20.0  # a new leader's report after the old one is killed
ENV = {
    "GLASSBOX_DRIFT_INTERVAL_SECONDS": "0.5",
    "GLASSBOX_DRIFT_WINDOWS_SECONDS": f"[{WINDOW_S}]",
    "GLASSBOX_DRIFT_MIN_SAMPLES": "500",
    "GLASSBOX_LOG_FORMAT": "json",
}


def drift(server: Server) -> dict[str, Any]:
    response = httpx2.get(f"{server.url}/drift", headers={"connection": "close"}, timeout=10.0)
    return response.json()  # type: ignore[no-any-return]


def send(server: Server, population: str, batches: int, seed: int) -> None:
    for i in range(batches):
        rows = list(generate(400, seed=seed + i, population=SHIFTS[population]).records())
        r = httpx2.post(f"{server.url}/predict/batch", json={"rows": rows}, timeout=10.0)
        assert r.status_code == 200


def wait_for(server: Server, check: Callable[[dict[str, Any]], bool], timeout_s: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    report = drift(server)
    while time.monotonic() < deadline:
        if report.get("windows") and check(report):
            return report
        time.sleep(0.1)
        report = drift(server)
    raise AssertionError(f"condition not met in {timeout_s}s: {json.dumps(report)[:2000]}")


def window_features(report: dict[str, Any]) -> dict[str, Any]:
    return report["windows"][WINDOW]["features"]  # type: ignore[no-any-return]


def statuses(report: dict[str, Any]) -> dict[str, str]:
    window = report["windows"][WINDOW]
    out = {name: entry["status"] for name, entry in window["features"].items()}
    out["_prediction"] = window["prediction"]["status"]
    return out


def test_windowed_drift_on_three_workers(tmp_path: Path) -> None:
    with gunicorn(tmp_path, workers=3, env=ENV) as server:
        send(server, "reference", batches=4, seed=100)
        report = wait_for(server, lambda r: window_features(r)["age"]["count"] >= 1600,
                          timeout_s=REPORT_S)  # fmt: skip
        calm = statuses(report)
        assert calm["age"] == "ok", calm
        assert "drift" not in calm.values(), calm

        # The reference rows are still in the window: half older rows are flagged all the same
        # (age PSI ~0.5 for this mix, against 0.25 for drift).
        send(server, "older", batches=4, seed=200)
        report = wait_for(server, lambda r: statuses(r)["age"] == "drift",
                          timeout_s=REPORT_S)  # fmt: skip
        assert statuses(report)["region"] != "drift"
        text = httpx2.get(f"{server.url}/metrics", timeout=10.0).text
        assert value(text, "glassbox_drift_status", feature="age", window=WINDOW) == 2
        assert value(text, "glassbox_drift_threshold", statistic="psi", level="drift") == 0.25

        # Every worker serves the same report: equal whenever computed at the same moment.
        seen: dict[float, dict[str, Any]] = {}
        for _ in range(12):
            r = drift(server)
            r.pop("since_start")  # live counts, may move between requests
            first = seen.setdefault(r["computed_at_seconds"], r)
            assert r == first

        # The leader dies; another worker takes over within a few intervals.
        leader = report["leader_pid"]
        assert leader in server.worker_pids()
        os.kill(leader, signal.SIGKILL)
        killed_at = time.time()
        report = wait_for(
            server,
            lambda r: r["leader_pid"] != leader and r["computed_at_seconds"] > killed_at,
            timeout_s=TAKEOVER_S,
        )
        assert report["leader_pid"] in server.worker_pids()
        # The new leader inherited the window: the shifted traffic is still in it.
        assert window_features(report)["age"]["count"] > 0

        events = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    changes = [e for e in events if e.get("event") == "drift status changed"
               and e.get("feature") == "age" and e.get("status") == "drift"]  # fmt: skip
    assert changes, "the status change was logged"


def test_the_traffic_tool_sends_shifted_rows(tmp_path: Path) -> None:
    import subprocess
    import sys

    with gunicorn(tmp_path, workers=2) as server:
        result = subprocess.run(
            [sys.executable, "-m", "examples.churn.traffic", "--url", server.url, "--rate", "200",
             "--count", "30", "--batch", "10", "--shift", "older", "--duration", "30"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        summary = json.loads(result.stdout)
        assert summary["outcomes"] == {"200": 30}
        assert summary["rows"] == 300
        age = drift(server)["since_start"]["features"]["age"]
    assert age["count"] == 300
    assert age["psi"] > 0.25  # an older population
