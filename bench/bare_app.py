"""The bare reference: the simplest honest FastAPI endpoint for the same model. Fixed, never tuned.

The recipe is fixed by issue 4 and every service figure is a ratio to it, so it must not drift:

* one ``async def`` route per app (``create_app`` serves ``/predict``; ``create_batch_app``
  serves ``/predict/batch``, the same recipe applied to a list of rows);
* a pydantic ``BaseModel`` row with the card's field names and no validators: integers are
  ``int``, numbers ``float``, booleans ``bool`` and categories plain ``str``; optional features
  default to ``None``;
* a float64 numpy row built by one list comprehension; a category is encoded by a dict lookup
  (its index in the card's category list) inside that comprehension, the simplest faithful
  encoding; an unknown or absent category and an absent number become NaN, as in the service;
* ``lightgbm.Booster.predict`` with no per-call kwargs, threads limited by ``OMP_NUM_THREADS=1``
  in the environment (the factory refuses to build without it);
* FastAPI's default JSON response (no response model);
* served by ``gunicorn -k uvicorn_worker.UvicornWorker`` (uvloop and httptools picked by "auto").

It reads the bundled model file and card directly and imports nothing from ``app``.
"""

# No ``from __future__ import annotations``: the row models are built at app creation, and FastAPI
# must see the real classes in the handler signatures.

import json
import os
from pathlib import Path
from typing import Any, cast

import lightgbm
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, create_model

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "churn"
NAN = float("nan")
_TYPES: dict[str, type] = {"integer": int, "number": float, "boolean": bool, "category": str}


class _Model:
    """What both bare apps hold: field names in model order, category codes, the booster."""

    def __init__(self, model_dir: Path) -> None:
        if os.environ.get("OMP_NUM_THREADS") != "1":
            raise RuntimeError("the bare reference runs with OMP_NUM_THREADS=1 and nothing else")
        card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
        features = card["features"]
        self.names: list[str] = [f["name"] for f in features]
        self.codes: dict[str, dict[str, float]] = {
            f["name"]: {c: float(i) for i, c in enumerate(f["categories"])}
            for f in features
            if f["type"] == "category"
        }
        fields: dict[str, Any] = {
            f["name"]: (_TYPES[f["type"]], ...)
            if f["required"]
            else (_TYPES[f["type"]] | None, None)
            for f in features
        }
        self.row: type[BaseModel] = create_model("BareRow", **fields)
        self.batch: type[BaseModel] = create_model("BareBatch", rows=(list[self.row], ...))  # type: ignore[name-defined]
        self.booster = lightgbm.Booster(model_file=str(model_dir / card["model"]["file"]))
        if self.booster.feature_name() != self.names:
            raise RuntimeError(f"model features {self.booster.feature_name()} != {self.names}")


def create_app(model_dir: Path = MODEL_DIR) -> FastAPI:
    """The bare single-row endpoint: ``POST /predict`` -> ``{"churn_probability": p}``."""
    model = _Model(model_dir)
    names, codes, booster = model.names, model.codes, model.booster
    Row: Any = model.row
    app = FastAPI()

    @app.post("/predict", response_model=None)
    async def predict(row: Row) -> dict[str, float]:
        x = np.array(
            [
                [
                    codes[n].get(getattr(row, n), NAN) if n in codes else getattr(row, n)
                    for n in names
                ]
            ],
            dtype=np.float64,
        )
        return {"churn_probability": float(booster.predict(x)[0])}

    return app


def create_batch_app(model_dir: Path = MODEL_DIR) -> FastAPI:
    """The bare batch endpoint: ``POST /predict/batch`` ``{"rows": [...]}`` ->
    ``{"churn_probability": [p, ...]}``."""
    model = _Model(model_dir)
    names, codes, booster = model.names, model.codes, model.booster
    Batch: Any = model.batch
    app = FastAPI()

    @app.post("/predict/batch", response_model=None)
    async def predict_batch(batch: Batch) -> dict[str, list[float]]:
        x = np.array(
            [
                [codes[n].get(getattr(r, n), NAN) if n in codes else getattr(r, n) for n in names]
                for r in batch.rows
            ],
            dtype=np.float64,
        )
        return {"churn_probability": cast(np.ndarray, booster.predict(x)).tolist()}

    return app
