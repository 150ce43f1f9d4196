"""Encoding: every category, boolean and missing value reaches the model as the card says."""

import math

import numpy as np
import pytest

from app.model.contract import FeatureKind
from app.model.encoding import Encoder
from examples.churn.generator import CONTRACT

ENCODER = Encoder(CONTRACT)
MINIMAL = {"age": 30, "signup_month": "June"}


def _column(name: str) -> int:
    return CONTRACT.names.index(name)


@pytest.mark.parametrize("feature", [f for f in CONTRACT if f.kind is FeatureKind.CATEGORY],
                         ids=lambda f: f.name)  # fmt: skip
def test_every_category_encodes_to_its_index_in_the_card(feature) -> None:  # type: ignore[no-untyped-def]
    for index, category in enumerate(feature.categories):
        row = MINIMAL | {feature.name: category}
        single = ENCODER.encode_row(row)[0, _column(feature.name)]
        batch = ENCODER.encode_rows([row, MINIMAL])[0, _column(feature.name)]
        assert single == batch == index
        assert CONTRACT[feature.name].categories[int(single)] == category


def test_booleans_encode_to_zero_and_one() -> None:
    rows = [MINIMAL | {"autopay": False}, MINIMAL | {"autopay": True}]
    assert ENCODER.encode_rows(rows)[:, _column("autopay")].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("missing", [{}, {"plan": None, "tenure_months": None, "autopay": None}],
                         ids=["absent", "null"])  # fmt: skip
def test_missing_values_encode_to_nan(missing: dict[str, object]) -> None:
    for matrix in (ENCODER.encode_row(MINIMAL | missing), ENCODER.encode_rows([MINIMAL | missing])):
        for name in ("plan", "tenure_months", "autopay", "region"):
            assert math.isnan(matrix[0, _column(name)])


def test_numeric_values_pass_through_as_float64() -> None:
    matrix = ENCODER.encode_rows([MINIMAL | {"monthly_charges": 70.25, "tenure_months": 12}])
    assert matrix.dtype == np.float64
    assert matrix[0, _column("monthly_charges")] == 70.25
    assert matrix[0, _column("tenure_months")] == 12.0
    assert matrix[0, _column("age")] == 30.0


def test_columns_follow_the_card_order() -> None:
    assert ENCODER.names == tuple(CONTRACT.names)
    assert ENCODER.encode_rows([MINIMAL]).shape == (1, len(CONTRACT))
