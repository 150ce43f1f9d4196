"""Binning: every value lands in the bin an independent np.histogram puts it in, in a batch
and one row at a time, on either side of every edge; every probability in the bucket
prometheus_client's own histogram puts it in."""

import json
import math
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from app.drift.binning import MISSING, Binner, numeric_labels
from app.model.encoding import Encoder
from app.model.profile import ReferenceProfile
from examples.churn.generator import CONTRACT, SHIFTS, generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.drift_oracle import Oracle, prediction_labels

PROFILE_FILE = BUNDLED_MODEL_DIR / "reference_profile.json"
PROFILE = json.loads(PROFILE_FILE.read_text())  # the oracle's: the file as JSON
BINNER = Binner(CONTRACT, ReferenceProfile.load(PROFILE_FILE, CONTRACT))
ENCODER = Encoder(CONTRACT)
ORACLE = Oracle(BUNDLED_MODEL_DIR)


def probabilities(rows: int, seed: int = 0) -> np.ndarray:
    """Stand-in predicted probabilities (these tests bin; they need no model)."""
    return np.random.default_rng(seed).random(rows)


def counts(matrix: np.ndarray) -> np.ndarray:
    return BINNER.counts(matrix, probabilities(len(matrix)))


def binned(records: list[dict[str, Any]]) -> dict[str, tuple[list[int], int]]:
    totals = counts(ENCODER.encode_rows(records))
    return {
        f.name: (totals[f.start : f.stop - 1].tolist(), int(totals[f.stop - 1]))
        for f in BINNER.features
    }


def edge_records() -> list[dict[str, Any]]:
    """Values exactly on edges, at the validity bounds, beyond the training range."""
    records = []
    for f in BINNER.features:
        feature = CONTRACT[f.name]
        if feature.is_numeric:
            edges = PROFILE["features"][f.name]["edges"]
            for value in [*edges, feature.minimum, feature.maximum]:
                cast = int(value) if feature.kind == "integer" and float(value).is_integer() \
                    else float(value)  # fmt: skip
                if feature.kind == "integer" and not float(value).is_integer():
                    continue
                records.append({"age": 30, "signup_month": "May", f.name: cast})
    return records


@pytest.mark.parametrize("population", ["reference", "older", "more_missing", "support_surge"])
def test_bins_match_an_independent_histogram(population: str) -> None:
    records = list(generate(3000, seed=5, population=SHIFTS[population]).records())
    assert binned(records) == ORACLE.feature_counts(records)


def test_edges_bounds_and_out_of_range_values_match_too() -> None:
    records = edge_records()
    assert len(records) > 50
    assert binned(records) == ORACLE.feature_counts(records)


def test_one_row_and_a_batch_bin_the_same() -> None:
    records = list(generate(50, seed=9).records())
    matrix = ENCODER.encode_rows(records)
    p = probabilities(len(records))
    one_by_one = sum(
        BINNER.counts(ENCODER.encode_row(r), p[i : i + 1]) for i, r in enumerate(records)
    )
    assert np.array_equal(one_by_one, BINNER.counts(matrix, p))
    for i, record in enumerate(records):
        assert np.array_equal(BINNER.indices(ENCODER.encode_row(record))[0],
                              BINNER.indices(matrix)[i])  # fmt: skip


@pytest.mark.parametrize("source", ["generated", "edges and bounds"])
def test_the_one_row_path_bins_as_the_vectorized_one(source: str) -> None:
    records = list(generate(500, seed=3).records()) if source == "generated" else edge_records()
    matrix = ENCODER.encode_rows(records)
    p = probabilities(len(records))
    predictions = BINNER.prediction_indices(p)
    for i, row in enumerate(matrix.tolist()):
        assert BINNER.row_indices(row, float(p[i])) == [
            *BINNER.indices(matrix)[i].tolist(),
            int(predictions[i]),
        ]


def test_counts_of_a_merge_are_the_merge_of_counts() -> None:
    a = list(generate(400, seed=1).records())
    b = list(generate(300, seed=2, population=SHIFTS["older"]).records())
    pa, pb = probabilities(len(a), seed=1), probabilities(len(b), seed=2)
    both = BINNER.counts(ENCODER.encode_rows(a + b), np.concatenate([pa, pb]))
    assert np.array_equal(both, BINNER.counts(ENCODER.encode_rows(a), pa) +
                          BINNER.counts(ENCODER.encode_rows(b), pb))  # fmt: skip


def test_layout_has_a_missing_bin_per_feature() -> None:
    assert all(f.labels[-1] == MISSING for f in BINNER.features)
    assert BINNER.size == sum(len(f.labels) for f in BINNER.features) + len(
        BINNER.prediction.labels
    )
    assert BINNER.feature("autopay").labels == ("false", "true", MISSING)


def test_the_prediction_s_bins_come_last_with_the_histogram_s_labels() -> None:
    assert BINNER.prediction.start == BINNER.features[-1].stop
    assert BINNER.prediction.stop == BINNER.size
    assert list(BINNER.prediction.labels) == prediction_labels(PROFILE["prediction"]["edges"])
    assert list(BINNER.prediction.reference) == PROFILE["prediction"]["proportions"]


def around_every_prediction_edge() -> list[float]:
    edges = PROFILE["prediction"]["edges"]
    around = [v for e in edges for v in (math.nextafter(e, -math.inf), e, math.nextafter(e, 1))]
    return [0.0, 1.0, *around, *probabilities(500, seed=4).tolist()]


def test_probabilities_land_in_the_bucket_prometheus_client_s_histogram_puts_them() -> None:
    """The prediction's bins are the probability histogram's buckets, closed on the right (an
    edge belongs to the bin below it), in a batch and one row at a time."""
    values = around_every_prediction_edge()
    histogram = Histogram("p", "p", buckets=PROFILE["prediction"]["edges"],
                          registry=CollectorRegistry())  # fmt: skip
    for v in values:
        histogram.observe(v)
    cumulative = [s.value for s in histogram.collect()[0].samples if s.name == "p_bucket"]
    expected = np.diff(cumulative, prepend=0.0).astype(int).tolist()
    nothing = np.full((len(values), len(CONTRACT)), np.nan)
    p = BINNER.prediction
    batch = BINNER.counts(nothing, np.array(values))
    assert batch[p.start : p.stop].tolist() == expected
    one_by_one = np.zeros(BINNER.size, dtype=np.int64)
    for row, v in zip(nothing.tolist(), values, strict=True):
        np.add.at(one_by_one, BINNER.row_indices(row, v), 1)
    assert one_by_one.tolist() == batch.tolist()


def test_numeric_labels_read_as_intervals() -> None:
    assert numeric_labels([1.0, 2.5]) == ["(-inf,1)", "[1,2.5)", "[2.5,+inf)"]


def around_every_edge() -> list[tuple[str, float]]:
    """For every interior edge of every numeric feature: the float just below it, the edge, and
    the float just above it."""
    cases = []
    for f in BINNER.features:
        if f.kind != "numeric":
            continue
        for edge in PROFILE["features"][f.name]["edges"]:
            for value in (math.nextafter(edge, -math.inf), edge, math.nextafter(edge, math.inf)):
                cases.append((f.name, value))
    return cases


def bin_by_hand(name: str, value: float) -> int:
    """The flat index of the half-open bin [e_k, e_k+1) holding ``value``: edges at or below it."""
    feature = BINNER.feature(name)
    return feature.start + sum(1 for edge in PROFILE["features"][name]["edges"] if edge <= value)


def test_values_either_side_of_every_edge_land_in_the_bin_the_edges_say() -> None:
    """A value a few ulps below an edge belongs to the bin below it, in a batch and alone."""
    cases = around_every_edge()
    assert len(cases) > 100
    columns = {name: j for j, name in enumerate(CONTRACT.names)}
    matrix = np.full((len(cases), len(columns)), np.nan)
    for i, (name, value) in enumerate(cases):
        matrix[i, columns[name]] = value
    expected = [bin_by_hand(name, value) for name, value in cases]
    batch = BINNER.indices(matrix)
    assert [int(batch[i, columns[name]]) for i, (name, _) in enumerate(cases)] == expected
    one_by_one = [BINNER.row_indices(row, 0.5)[columns[name]]
                  for row, (name, _) in zip(matrix.tolist(), cases, strict=True)]  # fmt: skip
    assert one_by_one == expected


def test_a_realistic_charge_just_under_an_edge_is_binned_below_it() -> None:
    charge = 13.03 * 3  # 39.089999999999996, just under the bundled profile's 39.09 edge
    edges = PROFILE["features"]["monthly_charges"]["edges"]
    assert 39.09 in edges
    assert charge < 39.09
    records = [{"age": 30, "signup_month": "May", "monthly_charges": charge}] * 2
    feature = BINNER.feature("monthly_charges")
    below = feature.start + edges.index(39.09)
    assert counts(ENCODER.encode_rows(records))[below] == 2
