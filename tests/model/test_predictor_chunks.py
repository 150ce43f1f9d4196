"""Predicting in chunks: a batch goes through the model a chunk of at most the configured rows
at a time, with a check before each chunk that can stop the work there; what it predicts is
what LightGBM itself predicts for the whole batch."""

from typing import Any

import numpy as np
import pytest

from app.model.predictor import Predictor
from examples.churn.generator import generate
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.raw_model import RawModel

ROWS: list[dict[str, Any]] = list(generate(250, seed=22).records())


class Stop(Exception):
    """What the test's check raises to stop the work."""


@pytest.fixture
def chunk_sizes(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows of every matrix the predictor hands to the model."""
    sizes: list[int] = []
    predict_matrix = predictor.predict_matrix

    def recording(matrix: np.ndarray) -> np.ndarray:
        sizes.append(matrix.shape[0])
        return predict_matrix(matrix)

    monkeypatch.setattr(predictor, "predict_matrix", recording)
    return sizes


def test_a_batch_is_predicted_in_chunks_of_at_most_the_configured_rows(
    predictor: Predictor, chunk_sizes: list[int]
) -> None:
    checks: list[int] = []
    predictor.predict_in_chunks(ROWS, 100, checks.append)
    assert chunk_sizes == [100, 100, 50]
    assert checks == [0, 100, 200]  # rows done before each chunk


def test_the_chunks_predict_what_the_raw_model_predicts_for_the_whole_batch(
    predictor: Predictor,
) -> None:
    raw = RawModel(BUNDLED_MODEL_DIR)
    chunked = predictor.predict_in_chunks(ROWS, 7, lambda rows_done: None)
    np.testing.assert_allclose(chunked.probabilities, raw.predict(ROWS), rtol=0, atol=1e-12)
    assert chunked.decisions.tolist() == [p >= raw.threshold for p in raw.predict(ROWS)]
    assert chunked.positives == sum(p >= raw.threshold for p in raw.predict(ROWS))
    # The features the drift recorder counts: every row, in order, encoded as the card says.
    np.testing.assert_array_equal(chunked.features, raw.encode(ROWS))


def test_a_batch_within_one_chunk_is_checked_once_and_predicted_at_once(
    predictor: Predictor, chunk_sizes: list[int]
) -> None:
    checks: list[int] = []
    predictor.predict_in_chunks(ROWS[:100], 100, checks.append)
    assert checks == [0]
    assert chunk_sizes == [100]


def test_the_work_stops_at_the_first_failing_check(
    predictor: Predictor, chunk_sizes: list[int]
) -> None:
    checks: list[int] = []

    def check(rows_done: int) -> None:
        checks.append(rows_done)
        if rows_done >= 100:
            raise Stop

    with pytest.raises(Stop):
        predictor.predict_in_chunks(ROWS, 100, check)
    assert checks == [0, 100]  # no check after the failing one
    assert chunk_sizes == [100]  # the first chunk only: nothing after the check that failed


def test_a_check_failing_before_anything_predicts_nothing(
    predictor: Predictor, chunk_sizes: list[int]
) -> None:
    def check(rows_done: int) -> None:
        raise Stop

    for rows in (ROWS, ROWS[:10]):
        with pytest.raises(Stop):
            predictor.predict_in_chunks(rows, 100, check)
    assert chunk_sizes == []
