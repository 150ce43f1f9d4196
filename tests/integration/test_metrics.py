"""Metrics on the real server: exact across 3 workers, through a worker's kill -9, bounded in
cardinality, scraped by a real Prometheus, and listed in the committed metric inventory."""

import os
import signal
import time
from pathlib import Path

import httpx2
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from app.main import IN_FLIGHT_PUBLISH_SECONDS
from tests.support.metrics import samples, series_count, value
from tests.support.processes import ROOT, Server, gunicorn
from tests.support.prometheus import prometheus

OK_ROW = {"age": 30, "signup_month": "June"}
INVENTORY = ROOT / "monitoring" / "metrics-inventory.txt"
MONOTONIC_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


def scrape(server: Server) -> str:
    response = httpx2.get(f"{server.url}/metrics", timeout=10.0)
    assert response.status_code == 200
    return response.text


def send_mix(server: Server, rounds: int) -> dict[str, int]:
    """Send a known mix on fresh connections (so all workers take a share); return the counts."""
    sent = {"single": 0, "batch": 0, "batch_rows": 0, "invalid": 0}
    headers = {"connection": "close"}
    for i in range(rounds):
        r = httpx2.post(f"{server.url}/predict", json=OK_ROW | {"tenure_months": i},
                        headers=headers, timeout=10.0)  # fmt: skip
        assert r.status_code == 200
        sent["single"] += 1
        if i % 3 == 0:
            rows = [OK_ROW] * (i % 7 + 1)
            r = httpx2.post(f"{server.url}/predict/batch", json={"rows": rows}, headers=headers,
                            timeout=10.0)  # fmt: skip
            assert r.status_code == 200
            sent["batch"] += 1
            sent["batch_rows"] += len(rows)
        if i % 4 == 0:
            r = httpx2.post(f"{server.url}/predict", json={"age": 5, "signup_month": "June"},
                            headers=headers, timeout=10.0)  # fmt: skip
            assert r.status_code == 422
            sent["invalid"] += 1
    return sent


def check_totals(text: str, sent: dict[str, int]) -> None:
    requests = "http_server_request_duration_seconds_count"
    single, batch = {"http_route": "/predict"}, {"http_route": "/predict/batch"}
    assert value(text, requests, **single, http_response_status_code="200") == sent["single"]
    assert value(text, requests, **batch, http_response_status_code="200") == sent["batch"]
    assert value(text, requests, **single, http_response_status_code="422") == sent["invalid"]
    predicted = sent["single"] + sent["batch_rows"]
    assert value(text, "glassbox_predictions_total") == predicted
    assert value(text, "glassbox_prediction_probability_count") == predicted
    assert value(text, "glassbox_batch_size_rows_sum") == sent["batch_rows"]
    failures = "glassbox_validation_failures_total"
    assert value(text, failures) == sent["invalid"]
    assert value(text, failures, field="age", reason="out_of_bounds") == sent["invalid"]


def workers_that_served(metrics_dir: Path) -> int:
    served = 0
    for path in metrics_dir.glob("counter_*.db"):
        merged = MultiProcessCollector.merge([str(path)], accumulate=True)
        total = sum(s.value for m in merged for s in m.samples
                    if s.name == "glassbox_predictions_total")  # fmt: skip
        served += total > 0
    return served


@pytest.mark.parametrize("fast_paths", ["all", "none"])
def test_counts_are_exact_across_three_workers_and_survive_a_kill_9(
    tmp_path: Path, fast_paths: str
) -> None:
    """With every fast path (GLASSBOX_FAST_PATHS=all, as shipped) and with none."""
    with gunicorn(tmp_path, workers=3, env={"GLASSBOX_FAST_PATHS": fast_paths}) as server:
        sent = send_mix(server, rounds=60)
        before = scrape(server)
        check_totals(before, sent)
        assert workers_that_served(tmp_path / "metrics") >= 2
        assert value(before, "glassbox_workers") == 3
        assert value(before, "glassbox_worker_starts_total") == 3
        assert value(before, "glassbox_model_ready") == 1

        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = server.worker_pids()
            if len(pids) == 3 and victim not in pids:
                break
            time.sleep(0.1)
        # The replacement is up when it has counted its start and every live worker has the
        # model (model_ready is the minimum over live workers).
        while time.monotonic() < deadline:
            after = scrape(server)
            if (value(after, "glassbox_worker_starts_total") == 4
                    and value(after, "glassbox_model_ready") == 1):  # fmt: skip
                break
            time.sleep(0.1)

        old, new = samples(before), samples(after)
        for key, old_value in old.items():
            name, labels = key
            per_process = any(label == "pid" for label, _ in labels)  # ends with its process
            if name.endswith(MONOTONIC_SUFFIXES) and not per_process:
                assert new.get(key, 0.0) >= old_value, key
        check_totals(after, sent)
        assert value(after, "glassbox_worker_starts_total") == 4
        assert value(after, "glassbox_workers") == 3
        # Nothing is being served (a scrape is not counted): once every live worker has
        # published its count (each second), a request that leaked its count would show.
        time.sleep(IN_FLIGHT_PUBLISH_SECONDS + 0.5)
        assert value(scrape(server), "http_server_active_requests") == 0

        more = send_mix(server, rounds=12)
        check_totals(scrape(server), {k: sent[k] + more[k] for k in sent})


@pytest.fixture(scope="module")
def server3(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    env = {"GLASSBOX_DRIFT_INTERVAL_SECONDS": "0.2"}
    with gunicorn(tmp_path_factory.mktemp("gunicorn3"), workers=3, env=env) as running:
        yield running


def settle(server: Server) -> None:
    """Serve a few predictions and wait for a drift report computed after them, so every
    family that appears with traffic and with the pod's drift report is there."""
    with httpx2.Client(base_url=server.url, timeout=10.0) as client:
        for _ in range(3):
            assert client.post("/predict", json=OK_ROW).status_code == 200
        sent_at = time.time()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            report = client.get("/drift").json()
            if report["computed_at"] and report["computed_at_seconds"] > sent_at:
                return
            time.sleep(0.1)
    raise AssertionError("no drift report was published")


# Distinct paths and distinct junk fields sent: a label per value would add this many series
# each, far above the bound of 2; 1,000 of each runs in seconds on a loaded machine.
DISTINCT = 1_000


def test_distinct_paths_and_junk_fields_add_a_constant_number_of_series(server3: Server) -> None:
    settle(server3)
    with httpx2.Client(base_url=server3.url, timeout=10.0) as client:
        # Warm every label combination once, then measure what DISTINCT more of each add.
        client.get("/warmup/0")
        client.post("/predict", json=OK_ROW | {"junk_warmup": 1})
        before = series_count(scrape(server3))
        for i in range(DISTINCT):
            assert client.get(f"/no/such/path/{i}").status_code == 404
            assert client.post("/predict", json=OK_ROW | {f"junk_{i}": i}).status_code == 422
    text = scrape(server3)
    # pid-labelled process series may differ by a scrape; nothing else may grow.
    assert series_count(text) - before <= 2
    assert value(text, "glassbox_validation_failures_total", field="_extra") == DISTINCT + 1


def test_a_real_prometheus_scrapes_the_exact_totals(server3: Server, tmp_path: Path) -> None:
    target = f"127.0.0.1:{server3.port}"
    with prometheus(tmp_path, target) as prom:
        assert prom.wait_for('up{job="glassbox"}', 1.0) == 1.0
        start = prom.scalar('sum(glassbox_predictions_total{job="glassbox"})') or 0.0
        sent = 0
        with httpx2.Client(base_url=server3.url, timeout=10.0) as client:
            for _ in range(25):
                assert client.post("/predict", json=OK_ROW).status_code == 200
                sent += 1
        expected = start + sent
        got = prom.wait_for('sum(glassbox_predictions_total{job="glassbox"})', expected)
        assert got == expected
        assert prom.scalar('sum(glassbox_workers{job="glassbox"})') == 3.0


def inventory(text: str) -> str:
    from prometheus_client.parser import text_string_to_metric_families

    lines = []
    for family in text_string_to_metric_families(text):
        labels = sorted({k for s in family.samples for k in s.labels if k not in ("le",)})
        lines.append(f"{family.name}\t{family.type}\t{','.join(labels)}\t{family.documentation}")
    return "\n".join(sorted(lines)) + "\n"


def test_the_metric_inventory_is_current(server3: Server) -> None:
    settle(server3)
    current = inventory(scrape(server3))
    if os.environ.get("UPDATE_INVENTORY") == "1":
        INVENTORY.write_text(current)
    assert INVENTORY.exists(), "run `make inventory` to create it"
    assert INVENTORY.read_text() == current, "stale: run `make inventory` and commit the file"
