"""Drift on /metrics: drift's own counts per (feature, bin), the prediction's bins included, and
the reference they are measured against, as the oracle computes them from the raw rows; the
leader's report as one gauge series per feature and window; the thresholds; one read of the
counts per scrape."""

from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.drift.assembly import Drift, assemble_drift
from app.model.card import ModelCard
from app.model.predictor import Predictor
from app.model.profile import ReferenceProfile
from app.settings import DriftSettings
from app.telemetry.drift_collector import DriftCollector
from examples.churn.generator import SHIFTS, generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.drift_check import check_metrics
from tests.support.drift_oracle import PREDICTION, Oracle
from tests.support.metrics import samples

CARD = ModelCard.load(BUNDLED_MODEL_DIR / "card.json")
PROFILE = ReferenceProfile.load(BUNDLED_MODEL_DIR / "reference_profile.json", CARD.contract)
# The gauge's documented levels (README, "Drift").
LEVELS = {"insufficient_data": -1, "ok": 0, "warning": 1, "drift": 2}


def assembled(**settings: Any) -> Drift:
    return assemble_drift(CARD, PROFILE, DriftSettings(**settings), None)


def send(drift: Drift, predictor: Predictor, records: list[dict[str, Any]]) -> None:
    """As the prediction routes do: the encoded rows and their probabilities, per request."""
    assert drift.recorder is not None
    matrix = predictor.encode(records)
    drift.recorder.record(matrix, predictor.predict_matrix(matrix))


def scrape(drift: Drift) -> str:
    registry = CollectorRegistry()
    registry.register(DriftCollector(drift))
    return generate_latest(registry).decode()


def by_feature_and_window(text: str, name: str) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["feature"], dict(labels)["window"]): v
        for (sample, labels), v in samples(text).items()
        if sample == name
    }


def test_counts_and_reference_equal_the_oracle_s(predictor: Predictor) -> None:
    singles = list(generate(30, seed=61, population=SHIFTS["older"]).records())
    batch = list(generate(200, seed=62, population=SHIFTS["more_missing"]).records())
    drift = assembled()
    for record in singles:
        send(drift, predictor, [record])
    send(drift, predictor, batch)
    check_metrics(scrape(drift), Oracle(BUNDLED_MODEL_DIR), singles + batch)


def test_before_any_report_there_are_no_window_series() -> None:
    text = scrape(assembled())
    for name in ("glassbox_drift_psi", "glassbox_drift_js_distance",
                 "glassbox_drift_window_samples", "glassbox_drift_status"):  # fmt: skip
        assert by_feature_and_window(text, name) == {}, name
    assert not any(n == "glassbox_drift_computed_timestamp_seconds" for n, _ in samples(text))


def test_the_leader_s_report_is_one_series_per_feature_and_window(predictor: Predictor) -> None:
    drift = assembled(min_samples=100, windows_seconds=[60.0, 600.0])
    send(drift, predictor, list(generate(300, seed=63, population=SHIFTS["older"]).records()))
    assert drift.monitor is not None
    report = drift.monitor.tick()
    text = scrape(drift)
    names = [*CARD.contract.names, PREDICTION]
    keys = {(name, window) for name in names for window in ("60s", "600s")}
    assert set(by_feature_and_window(text, "glassbox_drift_status")) == keys
    entries = {(name, window): entry for window, section in report.windows.items()
               for name, entry in section.entries().items()}  # fmt: skip
    samples_ = by_feature_and_window(text, "glassbox_drift_window_samples")
    status = by_feature_and_window(text, "glassbox_drift_status")
    psi = by_feature_and_window(text, "glassbox_drift_psi")
    js = by_feature_and_window(text, "glassbox_drift_js_distance")
    for key, entry in entries.items():
        assert samples_[key] == entry.count == 300 - entry.missing
        assert status[key] == LEVELS[entry.status.value]
        assert psi[key] == pytest.approx(entry.psi, rel=1e-12)
        assert js[key] == pytest.approx(entry.js_distance, rel=1e-12)
    assert status[("age", "60s")] == LEVELS["drift"]  # the older population, 300 rows
    computed = [v for (n, _), v in samples(text).items()
                if n == "glassbox_drift_computed_timestamp_seconds"]  # fmt: skip
    assert computed == [pytest.approx(report.computed_at_seconds)]


def test_the_thresholds_are_the_settings() -> None:
    text = scrape(assembled(psi_warning=0.11, psi_drift=0.3, js_warning=0.12, js_drift=0.22,
                            missing_warning=0.06, missing_drift=0.16, min_samples=77))  # fmt: skip
    thresholds = {(dict(labels)["statistic"], dict(labels)["level"]): v
                  for (n, labels), v in samples(text).items()
                  if n == "glassbox_drift_threshold"}  # fmt: skip
    assert thresholds == {
        ("psi", "warning"): 0.11, ("psi", "drift"): 0.3,
        ("js_distance", "warning"): 0.12, ("js_distance", "drift"): 0.22,
        ("missing_rate_difference", "warning"): 0.06, ("missing_rate_difference", "drift"): 0.16,
    }  # fmt: skip
    assert [v for (n, _), v in samples(text).items() if n == "glassbox_drift_min_samples"] == [77]


def test_with_drift_switched_off_the_counts_stay_at_zero_and_no_report_is_served() -> None:
    drift = assembled(enabled=False)
    text = scrape(drift)
    counts = [v for (n, _), v in samples(text).items()
              if n == "glassbox_drift_bin_observations_total"]  # fmt: skip
    assert len(counts) == drift.analysis.binner.size
    assert set(counts) == {0.0}
    assert by_feature_and_window(text, "glassbox_drift_status") == {}


def test_a_scrape_reads_the_pod_s_counts_once(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    drift = assembled()
    send(drift, predictor, list(generate(10, seed=64).records()))
    reads = []
    total = drift.counts.total

    def counted() -> np.ndarray:
        reads.append(1)
        return total()

    monkeypatch.setattr(drift.counts, "total", counted)
    scrape(drift)
    assert len(reads) == 1
