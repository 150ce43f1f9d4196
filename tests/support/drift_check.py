"""Compare a /drift report and /metrics drift counts with the oracle, for a known set of rows.

Everything expected comes from the oracle (tests/support/drift_oracle.py): the reference
proportions and missing rates from the profile file, the counts from the raw records and the raw
model, the statistics written out by hand. Nothing is taken from the report or scrape under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.drift_oracle import PREDICTION, Oracle
from tests.support.metrics import samples


def _check_entry(entry: dict[str, Any], oracle: Oracle, name: str, counts: list[int]) -> None:
    """One feature's (or the prediction's) value bins: labels, reference, observed, PSI, JS."""
    reference = oracle.reference(name)
    assert [b["bin"] for b in entry["bins"]] == oracle.labels(name), name
    assert [b["reference"] for b in entry["bins"]] == reference, name
    assert entry["count"] == sum(counts), name
    if not sum(counts):
        assert entry["psi"] is None, name
        assert entry["js_distance"] is None, name
        return
    observed = [b["observed"] for b in entry["bins"]]
    assert observed == pytest.approx([c / sum(counts) for c in counts], abs=1e-12), name
    assert entry["psi"] == pytest.approx(oracle.psi(reference, counts), abs=1e-9), name
    assert entry["js_distance"] == pytest.approx(oracle.js(reference, counts), abs=1e-9), name


def check_report(report: dict[str, Any], oracle: Oracle, records: list[dict[str, Any]]) -> None:
    expected = oracle.feature_counts(records)
    assert report["features"].keys() == expected.keys()
    for name, (counts, missing) in expected.items():
        feature = report["features"][name]
        _check_entry(feature, oracle, name, counts)
        assert feature["missing"] == missing, name
        total = sum(counts) + missing
        reference_missing = oracle.profile["features"][name]["missing_rate"]
        assert feature["missing_rate"] == pytest.approx(missing / total, abs=1e-12), name
        assert feature["missing_rate_difference"] == pytest.approx(
            missing / total - reference_missing, abs=1e-12
        ), name
    prediction = report["prediction"]
    counts = oracle.prediction_counts(records)
    assert sum(counts) == len(records)
    _check_entry(prediction, oracle, PREDICTION, counts)
    assert prediction["missing"] == 0


def _by_feature_and_bin(text: str, name: str, version: str) -> dict[tuple[str, str], float]:
    out = {}
    for (sample, labels), value in samples(text).items():
        if sample == name:
            labels_ = dict(labels)
            assert labels_["model_version"] == version, labels_
            out[(labels_["feature"], labels_["bin"])] = value
    return out


def check_metrics(text: str, oracle: Oracle, records: list[dict[str, Any]]) -> None:
    """Every (feature, bin) counter on /metrics, the prediction's bins included, is the oracle's
    count, and no other exists; the reference gauges are the profile's."""
    version = oracle.card["version"]
    counters = _by_feature_and_bin(text, "glassbox_drift_bin_observations_total", version)
    assert counters == oracle.bin_counts(records)

    reference = _by_feature_and_bin(text, "glassbox_drift_reference_proportion", version)
    expected_reference = {
        (name, label): share
        for name in [*oracle.profile["features"], PREDICTION]
        for label, share in zip(oracle.labels(name), oracle.reference(name), strict=True)
    }
    assert reference == expected_reference

    missing = {
        dict(labels)["feature"]: value
        for (sample, labels), value in samples(text).items()
        if sample == "glassbox_drift_reference_missing_ratio"
    }
    assert missing == {n: f["missing_rate"] for n, f in oracle.profile["features"].items()}
