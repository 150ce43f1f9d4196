"""The compiled engine answers LightGBM's probabilities: on the generator's populations and the
shifted ones, on every category of every categorical (and codes the encoder never emits), on a
missing value in every feature, and on every numeric split threshold of the model, the
threshold itself and one ulp either side. Engines differ at exact equality and in the default
direction of missing values: those rows are the test.

The oracle is LightGBM's own ``Booster.predict``, on a booster of its own; the thresholds are
read from model.txt's text, not from either engine.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest

from app.model.card import MODEL_FILE
from app.model.predictor import Predictor
from examples.churn.generator import SHIFTS, generate
from tests.conftest import BUNDLED_MODEL_DIR

ROWS_PER_POPULATION = 3000
BASE_ROWS = 6
# LightGBM's kZeroThreshold: with missing type Zero, |x| <= 1e-35 is zero, hence missing.
ZERO_THRESHOLD = 1e-35
ZEROS = (
    0.0, -0.0, ZERO_THRESHOLD, -ZERO_THRESHOLD, 1e-36, -1e-36,
    float(np.nextafter(ZERO_THRESHOLD, np.inf)), float(np.nextafter(-ZERO_THRESHOLD, -np.inf)),
)  # fmt: skip
EXTREMES = (np.nan, np.inf, -np.inf, 1e300, -1e300)


def split_thresholds(model_text: str) -> dict[int, set[float]]:
    """Every numeric split's threshold, by feature index, from the model file's trees
    (``decision_type`` bit 0 set: a categorical split, whose threshold is no value)."""
    out: dict[int, set[float]] = {}
    for block in model_text.split("\nTree=")[1:]:
        fields = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
        if "split_feature" not in fields:  # a single-leaf tree
            continue
        features = [int(v) for v in fields["split_feature"].split()]
        thresholds = [float(v) for v in fields["threshold"].split()]
        kinds = [int(v) for v in fields["decision_type"].split()]
        for feature, threshold, kind in zip(features, thresholds, kinds, strict=True):
            if not kind & 1:
                out.setdefault(feature, set()).add(threshold)
    return out


def substitutions(base: np.ndarray, column: int, values: list[float]) -> np.ndarray:
    """``base`` once per value, with ``column`` set to it."""
    out = np.repeat(base[np.newaxis], len(values), axis=0)
    out[:, :, column] = np.asarray(values, dtype=np.float64)[:, np.newaxis]
    return out.reshape(-1, base.shape[1])


def probe_rows(predictor: Predictor) -> dict[str, np.ndarray]:
    contract = predictor.card.contract
    encoder = predictor.encoder
    model_text = (BUNDLED_MODEL_DIR / MODEL_FILE).read_text()
    populations = np.concatenate([
        encoder.encode_columns(generate(ROWS_PER_POPULATION, seed, population).columns)
        for seed, population in enumerate(SHIFTS.values())
    ])  # fmt: skip
    base = populations[:: len(populations) // BASE_ROWS][:BASE_ROWS]
    categorical = set(encoder.categorical_indices)
    thresholds = split_thresholds(model_text)
    at_thresholds, categories, missing_and_zero = [], [], []
    for j, feature in enumerate(contract):
        if j in categorical:
            k = len(feature.categories)
            codes = [*range(k), k, k + 1, 31, 32, 64, 1000, -1, -2, -1000]
            categories.append(substitutions(base, j, [float(c) for c in codes]))
        else:
            values = []
            for t in sorted(thresholds.get(j, ())):
                values += [t, float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf))]
            at_thresholds.append(substitutions(base, j, values))
        missing_and_zero.append(substitutions(base, j, [*EXTREMES, *ZEROS]))
    rng = np.random.default_rng(28)
    sparse = populations[rng.integers(0, len(populations), 5000)].copy()
    sparse[rng.random(sparse.shape) < 0.3] = np.nan
    all_missing = np.full((1, len(contract)), np.nan)
    return {
        "populations": populations,
        "thresholds and one ulp either side": np.concatenate(at_thresholds),
        "every category, and codes out of range": np.concatenate(categories),
        "missing, infinite, zero and near zero in every feature": np.concatenate(missing_and_zero),
        "random missing values and all missing": np.concatenate([sparse, all_missing]),
    }


def test_the_model_has_the_splits_the_threshold_rows_exercise() -> None:
    """The threshold rows are no vacuous loop: the model has numeric splits on most features."""
    thresholds = split_thresholds((BUNDLED_MODEL_DIR / MODEL_FILE).read_text())
    assert sum(len(v) for v in thresholds.values()) > 500
    assert len(thresholds) >= 8


def test_the_compiled_engine_answers_lightgbms_probabilities(compiled: Predictor) -> None:
    predictor = compiled
    assert (predictor.engine, predictor.engine_refused) == ("lleaves", None)
    oracle = lightgbm.Booster(model_file=str(BUNDLED_MODEL_DIR / MODEL_FILE))
    checked, largest = 0, 0.0
    for name, matrix in probe_rows(predictor).items():
        expected = oracle.predict(matrix, num_threads=1)
        got = predictor.predict_matrix(matrix)
        difference = float(np.max(np.abs(got - expected)))
        print(f"{name}: {len(matrix)} rows, largest difference {difference:.3g}")
        checked, largest = checked + len(matrix), max(largest, difference)
        assert got.dtype == np.float64
        assert got.shape == expected.shape
        assert not np.isnan(got).any()
        # Bit for bit: each row's score is summed tree by tree in LightGBM's order (one block
        # of trees) and goes through the same sigmoid on the same libm exp.
        unequal = np.flatnonzero(got.view(np.uint64) != expected.view(np.uint64))
        assert unequal.size == 0, (
            name,
            matrix[unequal[:5]],
            got[unequal[:5]],
            expected[unequal[:5]],
        )
    print(f"compiled engine vs LightGBM: {checked} rows, bit for bit, largest difference {largest}")
    assert checked > 20_000


@pytest.fixture(scope="module")
def compiled(engine_dir: Path) -> Predictor:
    return Predictor.load(BUNDLED_MODEL_DIR, engine_dir=engine_dir)


@pytest.mark.parametrize("rows", [1, 2, 999])
def test_any_batch_shape_answers_the_same(compiled: Predictor, rows: int) -> None:
    predictor = compiled
    matrix = predictor.encoder.encode_columns(generate(rows, 5).columns)
    expected = predictor.reference.predict(matrix)
    assert predictor.predict_matrix(matrix).shape == (rows,)
    np.testing.assert_array_equal(predictor.predict_matrix(matrix), expected, strict=True)
    # A view that is not C-contiguous (a column slice of a wider matrix) answers the same too.
    wide = np.repeat(matrix, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(predictor.predict_matrix(wide), expected, strict=True)
