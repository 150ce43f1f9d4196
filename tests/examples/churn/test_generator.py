"""The generator: deterministic, plausible, and shiftable in the documented directions."""

import numpy as np
import pytest

from app.model.contract import FeatureKind
from examples.churn.generator import CONTRACT, MISSING_RATES, SHIFTS, generate


def test_same_seed_same_customers() -> None:
    a, b = generate(2000, seed=7), generate(2000, seed=7)
    for name in CONTRACT.names:
        assert a.columns[name].tolist() == pytest.approx(b.columns[name].tolist(), nan_ok=True)
    assert np.array_equal(a.churned, b.churned)


def test_other_seed_other_customers() -> None:
    assert not np.array_equal(generate(2000, seed=7).columns["age"],
                              generate(2000, seed=8).columns["age"])  # fmt: skip


def test_records_satisfy_the_contract() -> None:
    for record in generate(3000, seed=1).records():
        assert {"age", "signup_month"} <= record.keys()
        for name, value in record.items():
            feature = CONTRACT[name]
            if feature.kind is FeatureKind.CATEGORY:
                assert value in feature.categories
            elif feature.kind is FeatureKind.BOOLEAN:
                assert isinstance(value, bool)
            else:
                assert feature.minimum <= value <= feature.maximum
                assert isinstance(value, int) == (feature.kind is FeatureKind.INTEGER)


def test_missing_values_appear_at_about_the_documented_rates() -> None:
    customers = generate(20_000, seed=3)
    for name, rate in MISSING_RATES.items():
        column = customers.columns[name]
        observed = np.mean([v is None for v in column]) if column.dtype == object \
            else np.isnan(column).mean()  # fmt: skip
        assert observed == pytest.approx(rate, abs=0.01), name
    assert not np.isnan(customers.columns["age"]).any()


@pytest.mark.parametrize(
    ("shift", "column", "direction"),
    [
        ("older", "age", +1),
        ("support_surge", "support_calls_90d", +1),
        ("price_increase", "monthly_charges", +1),
    ],
)
def test_shifts_move_their_feature(shift: str, column: str, direction: int) -> None:
    base = np.nanmean(generate(5000, seed=11).columns[column])
    shifted = np.nanmean(generate(5000, seed=11, population=SHIFTS[shift]).columns[column])
    assert np.sign(shifted - base) == direction


def test_premium_mix_shift_changes_the_plan_mix() -> None:
    base = generate(5000, seed=11).columns["plan"]
    shifted = generate(5000, seed=11, population=SHIFTS["premium_mix"]).columns["plan"]
    assert np.mean(shifted == "premium") > np.mean(base == "premium") + 0.2
