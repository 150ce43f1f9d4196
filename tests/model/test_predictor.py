"""The predictor: refuses any model file that is not exactly its card's, predicts consistently."""

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from app.model.card import CARD_FILE, MODEL_FILE
from app.model.errors import ModelCardError, ModelIntegrityError, ModelLoadError
from app.model.predictor import Predictor, threads_per_call
from examples.churn.generator import generate
from tests.conftest import BUNDLED_MODEL_DIR


def _rewrite_card_sha(model_dir: Path) -> None:
    """Make the card vouch for whatever model file is there now."""
    card_path = model_dir / CARD_FILE
    card = json.loads(card_path.read_text())
    card["model"]["sha256"] = hashlib.sha256((model_dir / MODEL_FILE).read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))


def test_loads_the_bundled_model(predictor: Predictor) -> None:
    assert predictor.version == json.loads((BUNDLED_MODEL_DIR / CARD_FILE).read_text())["version"]
    assert predictor.card.num_trees == 300


def test_a_flipped_byte_is_an_integrity_error(model_copy: Path) -> None:
    path = model_copy / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        Predictor.load(model_copy)


def test_a_truncated_file_is_an_integrity_error(model_copy: Path) -> None:
    path = model_copy / MODEL_FILE
    path.write_bytes(path.read_bytes()[:10_000])
    with pytest.raises(ModelIntegrityError, match="corrupt or belongs to another card"):
        Predictor.load(model_copy)


def test_a_truncated_file_is_refused_even_when_the_card_vouches_for_it(model_copy: Path) -> None:
    path = model_copy / MODEL_FILE
    text = path.read_text()
    path.write_text(text[: text.index("Tree=150")])
    _rewrite_card_sha(model_copy)
    with pytest.raises(ModelLoadError, match="truncated"):
        Predictor.load(model_copy)


def test_a_pickle_is_refused_before_anything_unpickles_it(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(ModelIntegrityError):
        Predictor.load(model_copy)
    _rewrite_card_sha(model_copy)
    with pytest.raises(ModelLoadError, match="not a LightGBM text model"):
        Predictor.load(model_copy)


def test_a_missing_model_file_is_a_load_error(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ModelLoadError, match="cannot read"):
        Predictor.load(model_copy)


@pytest.mark.parametrize(
    "damage",
    [
        lambda card: card.pop("version"),
        lambda card: card.update(decision_threshold=1.5),
        lambda card: card["features"][0].update(type="complex"),
        lambda card: card["features"].append(dict(card["features"][0])),
        lambda card: card["model"].update(file="../model.txt"),
    ],
    ids=["no-version", "threshold-out-of-range", "unknown-type", "duplicate-feature", "path"],
)
def test_a_bad_card_is_a_card_error(model_copy: Path, damage: object) -> None:
    card_path = model_copy / CARD_FILE
    card = json.loads(card_path.read_text())
    damage(card)  # type: ignore[operator]
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelCardError):
        Predictor.load(model_copy)


def test_batch_and_single_row_predictions_agree(predictor: Predictor) -> None:
    records = list(generate(200, seed=5).records())
    batch = predictor.predict_proba(records)
    singles = np.concatenate([predictor.predict_proba([r]) for r in records])
    np.testing.assert_array_equal(batch, singles)


def test_serving_encoding_matches_training_encoding(predictor: Predictor) -> None:
    customers = generate(500, seed=6)
    from_columns = predictor.encoder.encode_columns(customers.columns)
    from_records = predictor.encoder.encode_rows(list(customers.records()))
    # Records round numbers to cents, as a client would send them.
    np.testing.assert_allclose(from_records, from_columns, atol=0.006, equal_nan=True)


def test_decisions_follow_the_card_threshold(predictor: Predictor) -> None:
    threshold = predictor.card.threshold
    decided = predictor.decide(np.array([threshold - 1e-9, threshold, threshold + 0.1]))
    assert decided.decisions.tolist() == [False, True, True]
    assert decided.positives == 2


def test_threads_go_with_each_call_unless_the_process_already_fixes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_call(1) is None
    assert threads_per_call(2) == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads_per_call(1) == 1


def test_predictions_do_not_depend_on_how_threads_are_set() -> None:
    records = list(generate(200, seed=8).records())
    per_call = Predictor.load(BUNDLED_MODEL_DIR, num_threads=1).predict_proba(records)
    from_process = Predictor.load(BUNDLED_MODEL_DIR, num_threads=None).predict_proba(records)
    assert np.array_equal(per_call, from_process)
