"""What computes a model's probabilities from an encoded matrix: LightGBM's own predictor (the
reference and the fallback) or the model compiled to native code by lleaves
(app/model/compiled_engine.py builds and verifies it). Both take a float64 matrix of encoded
rows and answer float64 positive-class probabilities, the same ones (tests/model/
test_engine_equality.py)."""

from __future__ import annotations

from typing import Any, Protocol

import lightgbm
import numpy as np

LIGHTGBM = "lightgbm"
LLEAVES = "lleaves"


class Engine(Protocol):
    """Probabilities for an encoded (rows, features) float64 matrix."""

    @property
    def name(self) -> str: ...

    def predict(self, matrix: np.ndarray) -> np.ndarray: ...


class LightGBMEngine:
    """LightGBM's general-purpose tree walker: the reference every other engine is held to."""

    name = LIGHTGBM

    def __init__(self, booster: lightgbm.Booster, num_threads: int | None = 1) -> None:
        self.booster = booster
        # Booster(model_file=..., params=...) ignores params: threads go with every predict
        # call, or (None) come from the process's OpenMP setting; see threads_per_call.
        self._kwargs: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(matrix, **self._kwargs), dtype=np.float64)


class LleavesEngine:
    """The model's trees compiled to native code (lleaves, on LLVM through llvmlite), loaded
    from a verified artifact. One thread: the service scales by workers."""

    name = LLEAVES

    def __init__(self, model: Any) -> None:
        self._model = model  # a compiled lleaves.Model

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        # lleaves flattens the matrix without a copy when it is C-contiguous float64 (the
        # encoder's matrices are); n_jobs=1 runs on the calling thread, no pool per call.
        data = np.ascontiguousarray(matrix, dtype=np.float64)
        return np.asarray(self._model.predict(data, n_jobs=1), dtype=np.float64)
