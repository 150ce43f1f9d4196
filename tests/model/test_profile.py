"""The reference profile, typed: the bundled one reads back as its file says and writes back
byte for byte; a malformed one, or one that does not fit its card, is refused with a
ProfileError that says where and what."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.model.card import CARD_FILE, PROFILE_FILE, ModelCard
from app.model.errors import ModelError, ProfileError
from app.model.profile import CategoricalBins, NumericBins, ReferenceProfile
from tests.conftest import BUNDLED_MODEL_DIR

CARD = ModelCard.load(BUNDLED_MODEL_DIR / CARD_FILE)
RAW_TEXT = (BUNDLED_MODEL_DIR / PROFILE_FILE).read_text()
RAW = json.loads(RAW_TEXT)
AGE_EDGES = RAW["features"]["age"]["edges"]
CONTRACTS = RAW["features"]["contract"]["categories"]


def test_the_bundled_profile_reads_as_its_file_says() -> None:
    profile = ReferenceProfile.load(BUNDLED_MODEL_DIR / PROFILE_FILE, CARD.contract)
    assert profile.model_version == RAW["model_version"] == CARD.version
    assert profile.rows == RAW["rows"]
    assert list(profile.features) == list(RAW["features"])
    for name, raw in RAW["features"].items():
        entry = profile.feature(name)
        assert entry.type == raw["type"]
        assert list(entry.proportions) == raw["proportions"]
        assert entry.missing_rate == raw["missing_rate"]
        if isinstance(entry, NumericBins):
            assert list(entry.edges) == raw["edges"]
            assert entry.closed == raw["closed"] == "left"
        else:
            assert isinstance(entry, CategoricalBins)
            assert list(entry.categories) == raw["categories"]
    assert list(profile.prediction.edges) == RAW["prediction"]["edges"]
    assert profile.prediction.closed == "right"
    assert list(profile.prediction.proportions) == RAW["prediction"]["proportions"]


def test_it_writes_back_as_the_file_is_written() -> None:
    """What ``make describe`` writes: the same JSON, the same bytes."""
    profile = ReferenceProfile.load(BUNDLED_MODEL_DIR / PROFILE_FILE, CARD.contract)
    assert json.dumps(profile.to_dict(), indent=2) + "\n" == RAW_TEXT


def test_a_profile_without_a_model_version_writes_none() -> None:
    doc = {k: v for k, v in RAW.items() if k != "model_version"}
    profile = ReferenceProfile.model_validate_json(json.dumps(doc))
    assert profile.model_version is None
    assert "model_version" not in profile.to_dict()


def write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / PROFILE_FILE
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def edited(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = json.loads(RAW_TEXT)
    change(doc)
    return doc


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            doc = doc[key]
        doc[last] = value

    return change


MALFORMED = {
    "not JSON": ("{nope", "the document"),
    "a list": ([1, 2], "the document"),
    "no prediction": (edited(lambda d: d.pop("prediction")), "prediction: Field required"),
    "a number as a string": (edited(_set("features.age.missing_rate", "0")),
                             "features.age.numeric.missing_rate: Input should be a valid number"),
    "a boolean as a number": (edited(_set("rows", True)), "rows: Input should be a valid integer"),
    "a share above one": (edited(_set("features.plan.missing_rate", 1.5)),
                          "features.plan.categorical.missing_rate: Input should be less than"),
    "a negative proportion": (edited(_set("features.age.proportions", [-0.1] + [0.1] * 9)),
                              "features.age.numeric.proportions.0: Input should be greater"),
    "too few proportions": (edited(_set("features.age.proportions", [0.5, 0.5])),
                            "9 edges make 10 bins, but there are 2 proportions"),
    "edges out of order": (edited(_set("features.age.edges", [30.0, 24.0, *AGE_EDGES[2:]])),
                           "do not increase strictly"),
    "a proportion per category missing": (edited(_set("features.plan.proportions", [1.0])),
                                          "categories but 1 proportions"),
    "an unknown kind of entry": (edited(_set("features.age.type", "ordinal")),
                                 "features.age: Input tag 'ordinal' found using 'type'"),
    "prediction bins closed on the left": (edited(_set("prediction.closed", "left")),
                                           "must be closed on the right"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_profile_is_refused_saying_where(tmp_path: Path, case: str) -> None:
    doc, says = MALFORMED[case]
    path = write(tmp_path, doc)
    with pytest.raises(ProfileError) as caught:
        ReferenceProfile.load(path, CARD.contract)
    message = str(caught.value)
    assert str(path) in message
    assert says in message


MISFITS = {
    "a feature missing": (edited(lambda d: d["features"].pop("region")), "missing ['region']"),
    "a feature the card lacks": (edited(_set("features.shoe_size", RAW["features"]["age"])),
                                 "not in the card ['shoe_size']"),
    "a numeric feature binned as categories": (
        edited(_set("features.age", RAW["features"]["plan"])), "'age' is numeric in the card"),
    "a category feature binned by edges": (
        edited(_set("features.plan", RAW["features"]["age"])), "'plan' must be categorical"),
    "categories in another order": (
        edited(_set("features.contract.categories", CONTRACTS[::-1])),
        "'contract' must be categorical with the card's values"),
    "a boolean's values not false/true": (
        edited(_set("features.autopay.categories", ["no", "yes"])),
        "['false', 'true'], in that order"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MISFITS))
def test_a_profile_that_does_not_fit_the_card_is_refused(tmp_path: Path, case: str) -> None:
    doc, says = MISFITS[case]
    with pytest.raises(ProfileError) as caught:
        ReferenceProfile.load(write(tmp_path, doc), CARD.contract)
    assert says in str(caught.value)


def test_no_profile_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read reference profile"):
        ReferenceProfile.load(tmp_path / PROFILE_FILE, CARD.contract)
