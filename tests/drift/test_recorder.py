"""The recorder: each request's rows and predictions, counted in one write into the worker's
store; a row counted before a kill -9 stays in the pod's totals, its prediction bin too."""

import os
import signal
from bisect import bisect_left
from pathlib import Path

import numpy as np
import pytest

from app.drift.binning import Binner
from app.drift.recorder import DriftRecorder
from app.drift.store import MemoryCounts, SharedCounts
from app.model.predictor import Predictor
from app.model.profile import ReferenceProfile
from examples.churn.generator import CONTRACT, generate
from tests.conftest import BUNDLED_MODEL_DIR

PROFILE = ReferenceProfile.load(BUNDLED_MODEL_DIR / "reference_profile.json", CONTRACT)
BINNER = Binner(CONTRACT, PROFILE)
VERSION = "churn-test"


def encoded(predictor: Predictor, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = predictor.encode(list(generate(rows, seed=seed).records()))
    return matrix, predictor.predict_matrix(matrix)


def prediction_bin(probability: float) -> int:
    """By hand: the right-closed bin, the number of edges below the probability."""
    return BINNER.prediction.start + bisect_left(list(PROFILE.prediction.edges), probability)


def test_rows_recorded_one_by_one_count_as_the_same_rows_in_a_batch(
    predictor: Predictor,
) -> None:
    matrix, probabilities = encoded(predictor, 60, seed=11)
    alone, together = DriftRecorder(BINNER, MemoryCounts(BINNER.size)), MemoryCounts(BINNER.size)
    for i in range(len(matrix)):
        alone.record(matrix[i : i + 1], probabilities[i : i + 1])
    DriftRecorder(BINNER, together).record(matrix, probabilities)
    assert alone.totals().tolist() == together.total().tolist()
    p = BINNER.prediction
    expected = np.zeros(BINNER.size, dtype=np.int64)
    for probability in probabilities.tolist():
        expected[prediction_bin(probability)] += 1
    assert together.total()[p.start : p.stop].tolist() == expected[p.start : p.stop].tolist()
    for f in BINNER.features:  # every row counted once per feature, present or missing
        assert together.total()[f.start : f.stop].sum() == 60


def test_a_row_counted_before_a_kill_9_stays_in_the_pod_s_totals(
    tmp_path: Path, predictor: Predictor
) -> None:
    matrix, probabilities = encoded(predictor, 1, seed=12)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        DriftRecorder(BINNER, SharedCounts(tmp_path, VERSION, BINNER.size)).record(
            matrix, probabilities
        )
        os.kill(os.getpid(), signal.SIGKILL)  # no flush, no exit handler: as a kill -9 leaves it
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    totals = SharedCounts(tmp_path, VERSION, BINNER.size).total()
    assert totals[prediction_bin(float(probabilities[0]))] == 1
    assert totals.sum() == len(BINNER.features) + 1  # each feature's bin and the prediction's


def test_a_store_of_another_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="bins for a layout of"):
        DriftRecorder(BINNER, MemoryCounts(BINNER.size - len(BINNER.prediction.labels)))
