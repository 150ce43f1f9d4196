"""Training: byte-identical artifacts, and a model that learned the generator's story."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from app.model.card import CARD_FILE, MODEL_FILE, PROFILE_FILE
from app.model.evaluation import best_f1_threshold, roc_auc
from app.model.predictor import Predictor
from examples.churn.generator import NO_EFFECT_FEATURES, SHIFTS, STRONGEST_FEATURES, generate
from examples.churn.training import train
from tests.conftest import BUNDLED_MODEL_DIR

ARTIFACTS = (MODEL_FILE, CARD_FILE, PROFILE_FILE)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("retrained")
    train(out)
    return out


def test_retraining_reproduces_the_committed_artifacts_byte_for_byte(retrained: Path) -> None:
    for name in ARTIFACTS:
        assert _sha(retrained / name) == _sha(BUNDLED_MODEL_DIR / name), name


def test_source_date_epoch_sets_the_date_in_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
    card = train(tmp_path)
    assert card["version"] == f"churn-20260101-{_sha(tmp_path / MODEL_FILE)[:8]}"
    assert card["trained_at"] == "2026-01-01T00:00:00Z"


def test_card_version_names_the_model_file_it_describes(predictor: Predictor) -> None:
    card = predictor.card
    assert card.version == f"churn-20261101-{card.model_sha256[:8]}"
    assert card.model_sha256 == _sha(BUNDLED_MODEL_DIR / MODEL_FILE)


def test_holdout_auc_is_in_the_documented_band(predictor: Predictor) -> None:
    # Band: within 0.02 below the AUC of the generator's true probabilities (the best any model
    # can do on this data) and never above it by more than noise: more would mean leakage.
    holdout = predictor.card.document["metrics"]["holdout"]
    assert 0.80 <= holdout["auc"] <= 0.86
    assert holdout["bayes_auc"] - 0.02 <= holdout["auc"] <= holdout["bayes_auc"] + 0.005


def test_fresh_data_scores_like_the_card_says(predictor: Predictor) -> None:
    fresh = generate(10_000, seed=424242)
    scores = predictor.predict_matrix(predictor.encoder.encode_columns(fresh.columns))
    assert roc_auc(fresh.churned, scores) == pytest.approx(
        predictor.card.document["metrics"]["holdout"]["auc"], abs=0.015
    )


def test_the_story_s_strongest_features_rank_at_the_top_by_gain(predictor: Predictor) -> None:
    gains = predictor.feature_importance_gain()
    ranked = sorted(gains, key=gains.__getitem__, reverse=True)
    assert set(STRONGEST_FEATURES) <= set(ranked[:4]), ranked
    for name in NO_EFFECT_FEATURES:
        assert ranked[-1] == name, ranked


@pytest.mark.parametrize(
    ("shift", "direction"),
    [("support_surge", +1), ("month_to_month", +1), ("price_increase", +1)],
)
def test_shifted_populations_move_predicted_churn_the_way_the_story_says(
    predictor: Predictor, shift: str, direction: int
) -> None:
    def mean_churn(population_name: str) -> float:
        customers = generate(5000, seed=99, population=SHIFTS[population_name])
        matrix = predictor.encoder.encode_columns(customers.columns)
        return float(predictor.predict_matrix(matrix).mean())

    assert np.sign(mean_churn(shift) - mean_churn("reference")) == direction


def test_roc_auc_matches_hand_worked_values() -> None:
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert roc_auc(labels, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert roc_auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5


def test_threshold_maximises_f1_on_the_grid() -> None:
    # The rule: the threshold t on the 0.01 grid (0.05 .. 0.95) that maximises F1, where a row is
    # predicted churn when p >= t; the lowest such t on ties.
    # Separable: F1 = 1 exactly when the three churners (0.6, 0.7, 0.8) are in and the highest
    # non-churner (0.3) is out, 0.3 < t <= 0.6; the lowest grid point of those is 0.31.
    labels = np.array([0, 0, 0, 1, 1, 1])
    probabilities = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    assert best_f1_threshold(labels, probabilities) == 0.31


def test_threshold_worked_by_hand_when_no_threshold_is_perfect() -> None:
    # F1 = 2 TP / (predicted positive + actual positive), 3 churners:
    #   t <= 0.2         all 5 in,                   TP 3: 6 / (5 + 3) = 0.75
    #   0.2 < t <= 0.25  0.25, 0.4, 0.5, 0.9 in,     TP 3: 6 / (4 + 3) = 0.857  <- best
    #   0.25 < t <= 0.4  0.4, 0.5, 0.9 in,           TP 2: 4 / (3 + 3) = 0.667
    #   0.4 < t <= 0.5   0.5, 0.9 in,                TP 2: 4 / (2 + 3) = 0.8
    #   0.5 < t <= 0.9   0.9 in,                     TP 1: 2 / (1 + 3) = 0.5
    # The best band is 0.2 < t <= 0.25; its lowest grid point is 0.21.
    labels = np.array([0, 1, 0, 1, 1])
    probabilities = np.array([0.2, 0.25, 0.4, 0.5, 0.9])
    assert best_f1_threshold(labels, probabilities) == 0.21


def test_card_lists_library_versions_and_hand_set_bounds(predictor: Predictor) -> None:
    doc = json.loads((BUNDLED_MODEL_DIR / CARD_FILE).read_text())
    assert {"lightgbm", "numpy", "python"} <= doc["libraries"].keys()
    age = next(f for f in doc["features"] if f["name"] == "age")
    assert (age["minimum"], age["maximum"]) == (18, 120)
