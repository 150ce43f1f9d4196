"""Loads a verified LightGBM binary classifier and predicts the probability of its positive
class for validated records, decided at the card's threshold.

The probabilities come from an engine (app/model/engines.py): the model compiled to native code
when a verified artifact of this very model file is at hand (app/model/compiled_engine.py),
else LightGBM's own predictor; :attr:`Predictor.engine` says which, and
:attr:`Predictor.engine_refused` why the compiled one is not serving."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

from app.model.card import CARD_FILE, ModelCard
from app.model.compiled_engine import EngineRefused, load_verified
from app.model.encoding import Encoder
from app.model.engines import Engine, LightGBMEngine
from app.model.errors import ModelIntegrityError, ModelLoadError
from app.model.probe import agreement

# Every LightGBM text model starts with this header; anything else (a pickle, say) is refused
# before LightGBM's parser sees it. LightGBM aborts the whole process (not an exception) on some
# truncated files, so the structure is checked here first.
_TEXT_MODEL_HEADER = b"tree\nversion="
_END_OF_TREES = b"\nend of trees\n"


def _check_structure(path: Path, data: bytes, num_trees: int) -> None:
    if not data.startswith(_TEXT_MODEL_HEADER):
        raise ModelLoadError(f"{path} is not a LightGBM text model (no 'tree' header)")
    body, marker, _ = data.partition(_END_OF_TREES)
    if not marker:
        raise ModelLoadError(f"{path} is truncated: no 'end of trees' line")
    trees = body.count(b"\nTree=")
    if trees != num_trees:
        raise ModelLoadError(f"{path} has {trees} trees, its card says {num_trees}: truncated?")


def threads_per_call(wanted: int) -> int | None:
    """The ``num_threads`` to give :class:`Predictor`: ``wanted``, or None when the process's
    ``OMP_NUM_THREADS`` already says the same (gunicorn.conf.py sets it for the workers).

    Passing a thread count makes every LightGBM predict call ~10 µs dearer (a parameter string
    parsed per call), a sixth of a single-row prediction.
    """
    return None if os.environ.get("OMP_NUM_THREADS") == str(wanted) else wanted


@dataclass(frozen=True, slots=True)
class Predictions:
    """Results for a request's rows, in input order."""

    probabilities: np.ndarray
    decisions: np.ndarray  # probability >= the card's threshold: the positive outcome
    features: np.ndarray  # the encoded rows that were scored (drift bins them)

    def __len__(self) -> int:
        return len(self.probabilities)

    @property
    def positives(self) -> int:
        return int(np.count_nonzero(self.decisions))


class Predictor:
    """A model and its card, ready to predict. Build it with :meth:`load`."""

    def __init__(
        self,
        booster: lightgbm.Booster,
        card: ModelCard,
        num_threads: int | None = 1,
    ) -> None:
        self.card = card
        self.encoder = Encoder(card.contract)
        self._booster = booster
        self.reference = LightGBMEngine(booster, num_threads)
        self._engine: Engine = self.reference
        # Why the compiled engine was asked for and is not serving (None: it serves, or it was
        # not asked for).
        self.engine_refused: str | None = None

    @property
    def engine(self) -> str:
        """The engine computing the probabilities: ``lleaves`` or ``lightgbm``."""
        return self._engine.name

    @classmethod
    def load(
        cls,
        model_dir: Path,
        num_threads: int | None = 1,
        card: ModelCard | None = None,
        engine_dir: Path | None = None,
        scratch_dir: Path | None = None,
    ) -> Predictor:
        """Verify the model file against the card and load the booster. ``card`` is the
        directory's card when it has been read already (the service reads it once, at start);
        without it, it is read here. With ``engine_dir``, the model's compiled engine is loaded
        from there once its artifact checks out (:func:`~app.model.compiled_engine.
        load_verified`, its private copies in ``scratch_dir``) and agrees with LightGBM on
        probe rows; otherwise LightGBM serves and :attr:`engine_refused` says why.

        Raises a :class:`~app.model.errors.ModelError` subclass when anything does not match.
        """
        card = card if card is not None else ModelCard.load(model_dir / CARD_FILE)
        path = model_dir / card.model_file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read model file {path}: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != card.model_sha256:
            raise ModelIntegrityError(
                f"model file {path} has sha256 {digest}, but card {card.version} "
                f"expects {card.model_sha256}: the file is corrupt or belongs to another card"
            )
        _check_structure(path, data, card.num_trees)
        try:
            booster = lightgbm.Booster(model_str=data.decode("utf-8"))
        except (lightgbm.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"LightGBM cannot parse {path}: {exc}") from exc
        if booster.num_trees() != card.num_trees:
            raise ModelLoadError(
                f"{path} has {booster.num_trees()} trees, card {card.version} says "
                f"{card.num_trees}: the file is truncated or not this card's model"
            )
        if booster.feature_name() != card.contract.names:
            raise ModelLoadError(
                f"{path} takes features {booster.feature_name()}, "
                f"card {card.version} declares {card.contract.names}"
            )
        predictor = cls(booster, card, num_threads=num_threads)
        if engine_dir is None:
            return predictor
        try:
            compiled = load_verified(engine_dir, data, digest, scratch_dir)
            disagreement = agreement(card.contract, predictor.reference, compiled)
            if disagreement is not None:
                raise EngineRefused(f"the compiled engine disagrees with LightGBM: {disagreement}")
        except EngineRefused as refused:
            predictor.engine_refused = str(refused)
            return predictor
        predictor._engine = compiled
        return predictor

    @property
    def version(self) -> str:
        return self.card.version

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Positive-class probabilities for an encoded matrix."""
        return self._engine.predict(matrix)

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if len(rows) == 1:
            return self.encoder.encode_row(rows[0])
        return self.encoder.encode_rows(rows)

    def predict_proba(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Positive-class probabilities for validated records, in input order."""
        return self.predict_matrix(self.encode(rows))

    def decide(self, probabilities: np.ndarray, features: np.ndarray | None = None) -> Predictions:
        if features is None:
            features = np.empty((len(probabilities), 0))
        return Predictions(probabilities, probabilities >= self.card.threshold, features)

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> Predictions:
        matrix = self.encode(rows)
        return self.decide(self.predict_matrix(matrix), matrix)

    def predict_in_chunks(
        self,
        rows: Sequence[Mapping[str, Any]],
        chunk_rows: int,
        before_chunk: Callable[[int], None],
    ) -> Predictions:
        """As :meth:`predict`, a chunk of at most ``chunk_rows`` rows at a time.
        ``before_chunk(rows_done)`` runs before each chunk; whatever it raises stops the work
        there and propagates (the caller decides what stopping means)."""
        if len(rows) <= chunk_rows:
            before_chunk(0)
            return self.predict(rows)
        matrices, probabilities = [], []
        for start in range(0, len(rows), chunk_rows):
            before_chunk(start)
            matrix = self.encode(rows[start : start + chunk_rows])
            matrices.append(matrix)
            probabilities.append(self.predict_matrix(matrix))
        return self.decide(np.concatenate(probabilities), np.concatenate(matrices))

    def feature_importance_gain(self) -> dict[str, float]:
        gains = self._booster.feature_importance(importance_type="gain")
        return dict(zip(self.card.contract.names, map(float, gains), strict=True))
