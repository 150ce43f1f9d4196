"""Drift across real workers: counts survive a kill -9 and every worker reports the same truth."""

import os
import signal
import time
from pathlib import Path

import httpx2
from prometheus_client.multiprocess import MultiProcessCollector

from examples.churn.generator import SHIFTS, generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.drift_check import check_metrics, check_report
from tests.support.drift_oracle import Oracle
from tests.support.metrics import value
from tests.support.processes import gunicorn


def drift_requests_served_by(metrics_dir: Path, pid: int) -> float:
    merged = MultiProcessCollector.merge([str(metrics_dir / f"histogram_{pid}.db")])
    return sum(
        s.value
        for m in merged
        for s in m.samples
        if s.name == "http_server_request_duration_seconds_count"
        and s.labels.get("http_route") == "/drift"
    )


def test_drift_is_exact_across_three_workers_and_a_kill_9(tmp_path: Path) -> None:
    singles = list(generate(60, seed=41, population=SHIFTS["support_surge"]).records())
    batches = [list(generate(200, seed=42 + i).records()) for i in range(3)]
    sent = singles + [r for b in batches for r in b]
    with gunicorn(tmp_path, workers=3) as server:
        close = {"connection": "close"}  # fresh connections: every worker takes a share
        for record in singles:
            r = httpx2.post(f"{server.url}/predict", json=record, headers=close, timeout=10.0)
            assert r.status_code == 200
        for batch in batches:
            r = httpx2.post(f"{server.url}/predict/batch", json={"rows": batch}, headers=close,
                            timeout=10.0)  # fmt: skip
            assert r.status_code == 200
        files = list((tmp_path / "metrics").glob("drift_*.counts"))
        assert len(files) >= 2, "several workers recorded"

        before = server.worker_pids()
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = httpx2.get(f"{server.url}/metrics", timeout=10.0).text
            if (value(text, "glassbox_worker_starts_total") == 4
                    and value(text, "glassbox_model_ready") == 1):  # fmt: skip
                break
            time.sleep(0.1)
        assert victim not in server.worker_pids()

        oracle = Oracle(BUNDLED_MODEL_DIR)
        replacement = next(p for p in server.worker_pids() if p not in before)
        reports = []
        # At least 10, and until the replacement worker has answered some of them.
        while len(reports) < 10 or (
            drift_requests_served_by(tmp_path / "metrics", replacement) == 0 and len(reports) < 100
        ):
            reports.append(httpx2.get(f"{server.url}/drift", headers=close, timeout=10.0).json())
        assert drift_requests_served_by(tmp_path / "metrics", replacement) > 0
        for report in reports:
            check_report(report["since_start"], oracle, sent)
        assert all(r["since_start"] == reports[0]["since_start"] for r in reports)
        check_metrics(httpx2.get(f"{server.url}/metrics", timeout=10.0).text, oracle, sent)
