"""The reference profile: what the training population looked like, as bin proportions. It is
the third file of a model directory, read once beside the card; drift measures traffic against
it (``app/drift/``), and the probability histogram's buckets are its prediction edges.

Numeric features are binned on training quantiles with open outer bins, so values beyond the
training range still land somewhere: bin 0 is (-inf, e1), bin i is [e_i, e_{i+1}), the last bin
is [e_k, +inf) (``closed: "left"``). Categorical and boolean features are binned by value, in
card order (booleans ``false``, ``true``). Missing values are counted apart (``missing_rate``);
proportions are over the values present.

The predicted probability is binned with Prometheus' histogram convention (``closed: "right"``:
bin i is (e_{i-1}, e_i], a value equal to an edge falls in the bin below), so the probability
histogram on /metrics and drift's own prediction bins are the same bins.

The file is written by ``app/drift/reference.py``'s ``build_profile`` (through ``make train`` or
``make describe``); :meth:`ReferenceProfile.load` refuses one that is malformed or does not fit
its card, with a :class:`~app.model.errors.ProfileError` that says what is wrong.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.model.contract import FeatureContract, FeatureKind
from app.model.errors import ProfileError

BOOLEAN_CATEGORIES = ("false", "true")

Share = Annotated[float, Field(ge=0.0, le=1.0)]


def categories_of(kind: FeatureKind, categories: tuple[str, ...]) -> tuple[str, ...]:
    """The value bins of a non-numeric feature: its categories, or ``false``/``true``."""
    return BOOLEAN_CATEGORIES if kind is FeatureKind.BOOLEAN else categories


class _Entry(BaseModel):
    # Strict: a number must be a JSON number (not a string, not a boolean).
    model_config = ConfigDict(frozen=True, strict=True)


class NumericBins(_Entry):
    """Bins between edges; ``len(edges) + 1`` bins, so ``len(edges) + 1`` proportions."""

    type: Literal["numeric"]
    closed: Literal["left", "right"]
    edges: tuple[float, ...]
    proportions: tuple[Share, ...]
    missing_rate: Share

    @model_validator(mode="after")
    def _bins_fit_the_edges(self) -> NumericBins:
        if any(b <= a for a, b in pairwise(self.edges)):
            raise ValueError(f"edges {list(self.edges)} do not increase strictly")
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.edges)} edges make {len(self.edges) + 1} bins, but there are "
                f"{len(self.proportions)} proportions"
            )
        return self


class CategoricalBins(_Entry):
    """One bin per category, in card order."""

    type: Literal["categorical"]
    categories: tuple[str, ...]
    proportions: tuple[Share, ...]
    missing_rate: Share

    @model_validator(mode="after")
    def _one_proportion_per_category(self) -> CategoricalBins:
        if len(self.proportions) != len(self.categories):
            raise ValueError(
                f"{len(self.categories)} categories but {len(self.proportions)} proportions"
            )
        return self


FeatureBins = Annotated[NumericBins | CategoricalBins, Field(discriminator="type")]


class ReferenceProfile(_Entry):
    """The profile file, typed. ``model_version`` names the model it was made for (absent in
    profiles written by hand)."""

    model_version: str | None = None
    rows: Annotated[int, Field(ge=0)]
    features: dict[str, FeatureBins]
    prediction: NumericBins

    @model_validator(mode="after")
    def _prediction_bins_are_histogram_buckets(self) -> ReferenceProfile:
        if self.prediction.closed != "right":
            raise ValueError(
                "the prediction's bins must be closed on the right (histogram buckets)"
            )
        return self

    @classmethod
    def load(cls, path: Path, contract: FeatureContract) -> ReferenceProfile:
        """Read and check the profile of the model whose card declares ``contract``."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"cannot read reference profile {path}: {exc}") from exc
        try:
            profile = cls.model_validate_json(text)
        except ValidationError as exc:
            raise ProfileError(f"{path} is not a reference profile: {_errors(exc)}") from exc
        profile.check(contract, str(path))
        return profile

    def check(self, contract: FeatureContract, where: str = "the reference profile") -> None:
        """Raise :class:`ProfileError` unless every feature of the card has its entry, of the
        kind the feature is binned as (categories the card's, in its order), and nothing else."""
        names = set(contract.names)
        if set(self.features) != names:
            missing, extra = sorted(names - set(self.features)), sorted(set(self.features) - names)
            raise ProfileError(
                f"{where} does not describe the card's features: missing {missing}, "
                f"not in the card {extra}"
            )
        for feature in contract:
            entry = self.features[feature.name]
            if feature.is_numeric:
                if not isinstance(entry, NumericBins) or entry.closed != "left":
                    raise ProfileError(
                        f"{where}: feature {feature.name!r} is numeric in the card: its entry "
                        'must be numeric, closed "left"'
                    )
            else:
                labels = categories_of(feature.kind, feature.categories)
                if not isinstance(entry, CategoricalBins) or entry.categories != labels:
                    raise ProfileError(
                        f"{where}: feature {feature.name!r} must be categorical with the card's "
                        f"values {list(labels)}, in that order"
                    )

    def feature(self, name: str) -> NumericBins | CategoricalBins:
        return self.features[name]

    def to_dict(self) -> dict[str, Any]:
        """The profile as its file holds it (``model_version`` first, when there is one)."""
        return self.model_dump(mode="json", exclude_none=True)


def _errors(exc: ValidationError) -> str:
    """Pydantic's errors, one line each: where in the file, and what is wrong."""
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'the document'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )
