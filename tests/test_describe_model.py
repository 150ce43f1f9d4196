"""Describing a user's own LightGBM model: the card and profile the service then serves, and
clear refusals of what it cannot serve."""

import copy
import json
from pathlib import Path

import lightgbm
import numpy as np
import pytest
import yaml

from app.describe_model import DescribeError, describe, main
from app.model.card import ModelCard
from app.model.errors import ModelCardError
from app.model.predictor import Predictor
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support import second_model


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return second_model.make(tmp_path_factory.mktemp("fraud"))


def test_the_command_writes_a_model_directory_the_service_loads(
    made: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model, sample, spec = made
    out = tmp_path / "models" / "fraud"
    assert main(["--model", str(model), "--sample", str(sample), "--spec", str(spec),
                 "--out", str(out)]) == 0  # fmt: skip
    predictor = Predictor.load(out)
    card = predictor.card
    assert card.contract.names == ["amount_eur", "country", "new_device", "hour"]
    assert card.record_name == "Transaction"
    assert card.output.probability_field == "fraud_probability"
    assert (card.output.positive_outcome, card.output.negative_outcome) == ("fraud", "legit")
    profile = json.loads((out / "reference_profile.json").read_text())
    assert profile["model_version"] == card.version
    assert profile["rows"] == 3000
    assert profile["features"]["country"]["categories"] == ["DE", "FR", "US", "BR"]
    # The profile's missing rate is the sample's: about 5 % of new_device cells are empty.
    assert 0.03 < profile["features"]["new_device"]["missing_rate"] < 0.07
    document = card.document
    assert 0 < document["decision_threshold"] < 1
    assert document["metrics"]["sample"]["auc"] > 0.6, "the label was used"


def test_predictions_of_the_described_model_are_the_raw_models(
    made: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model, sample, spec = made
    describe(model, sample, yaml.safe_load(spec.read_text()), tmp_path)
    predictor = Predictor.load(tmp_path)
    rows = [{"amount_eur": 900.0, "country": "BR", "new_device": True, "hour": 3},
            {"amount_eur": 12.5, "country": "DE", "new_device": None, "hour": 14}]  # fmt: skip
    # Country codes as the model was trained on them: DE 0, FR 1, US 2, BR 3.
    by_hand = np.array([[900.0, 3, 1, 3], [12.5, 0, np.nan, 14]], dtype=np.float64)
    raw = lightgbm.Booster(model_file=str(model)).predict(by_hand)
    np.testing.assert_allclose(predictor.predict_proba(rows), raw, rtol=1e-12)


def spec_of(made: tuple[Path, Path, Path]) -> dict:  # type: ignore[type-arg]
    return copy.deepcopy(yaml.safe_load(made[2].read_text()))


def test_a_model_whose_features_differ_from_the_spec_is_refused(
    made: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    spec = spec_of(made)
    spec["features"][0]["name"] = "amount"
    with pytest.raises(DescribeError, match="takes 4 features"):
        describe(made[0], made[1], spec, tmp_path)
    spec = spec_of(made)
    del spec["features"][3]
    spec["label"] = None
    with pytest.raises(DescribeError, match=r"declares 3"):
        describe(made[0], made[1], spec, tmp_path)


def test_a_regression_model_is_refused(made: tuple[Path, Path, Path], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = lightgbm.Dataset(rng.random((200, 4)), label=rng.random(200),
                            feature_name=second_model.NAMES, params={"verbose": -1})  # fmt: skip
    booster = lightgbm.train({"objective": "regression", "verbose": -1}, data, 3)
    path = tmp_path / "regression.txt"
    booster.save_model(str(path))
    with pytest.raises(DescribeError, match="only binary classifiers"):
        describe(path, made[1], spec_of(made), tmp_path / "out")


def test_a_numeric_feature_without_bounds_is_refused_naming_it(
    made: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    spec = spec_of(made)
    del spec["features"][3]["maximum"]
    with pytest.raises(ModelCardError, match="numeric feature 'hour' needs validity bounds"):
        describe(made[0], made[1], spec, tmp_path)


def test_a_card_with_an_unbounded_numeric_feature_is_refused_at_load(tmp_path: Path) -> None:
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    del card["features"][2]["minimum"]
    with pytest.raises(ModelCardError, match="numeric feature 'tenure_months' needs validity"):
        ModelCard.from_dict(card)


def test_a_sample_value_outside_the_categories_is_refused_with_its_line(
    made: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    lines = made[1].read_text().splitlines()
    bad.write_text("\n".join([lines[0], "10.0,XX,true,3,0", *lines[1:5]]) + "\n")
    with pytest.raises(DescribeError, match=r"bad.csv:2: 'XX' is not one of country"):
        describe(made[0], bad, spec_of(made), tmp_path / "out")


def test_a_card_without_an_output_section_serves_generic_names() -> None:
    card = json.loads((BUNDLED_MODEL_DIR / "card.json").read_text())
    del card["output"], card["record_name"]
    loaded = ModelCard.from_dict(card)
    assert (loaded.output.probability_field, loaded.output.decision_field) == (
        "probability", "positive",
    )  # fmt: skip
    assert loaded.record_name == "Churn"
