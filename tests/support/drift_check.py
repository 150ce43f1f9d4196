"""Compare a /drift report and /metrics drift counts with the oracle, for a known set of rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.drift_oracle import Oracle
from tests.support.metrics import value


def check_report(report: dict[str, Any], oracle: Oracle, records: list[dict[str, Any]]) -> None:
    expected = oracle.feature_counts(records)
    for name, (counts, missing) in expected.items():
        feature = report["features"][name]
        reference = [b["reference"] for b in feature["bins"]]
        assert feature["count"] == sum(counts), name
        assert feature["missing"] == missing, name
        observed = [b["observed"] for b in feature["bins"]]
        assert observed == pytest.approx([c / sum(counts) for c in counts], abs=1e-12), name
        assert feature["psi"] == pytest.approx(oracle.psi(reference, counts), abs=1e-9), name
        assert feature["js_distance"] == pytest.approx(oracle.js(reference, counts), abs=1e-9)
    prediction = report["prediction"]
    counts = oracle.prediction_counts(records)
    reference = [b["reference"] for b in prediction["bins"]]
    assert prediction["count"] == len(records)
    assert prediction["psi"] == pytest.approx(oracle.psi(reference, counts), abs=1e-9)


def check_metrics(text: str, oracle: Oracle, records: list[dict[str, Any]]) -> None:
    name = "glassbox_drift_bin_observations_total"
    for feature, (counts, missing) in oracle.feature_counts(records).items():
        total = value(text, name, feature=feature)
        assert total == sum(counts) + missing, feature
        assert value(text, name, feature=feature, bin="missing") == missing, feature
    predictions = oracle.prediction_counts(records)
    assert value(text, name, feature="_prediction") == len(records)
    assert predictions  # all bins compared through the report's PSI
