"""The bare reference with the same engine (issue 29): bare_app.py's fixed recipe, with the
prediction made by the compiled engine the service serves with instead of ``Booster.predict``.

Everything else is bare_app.py's, shared with it (``bare_app._Model``: the card's field names,
the pydantic row with no validators, the category codes): one ``async def`` route, a float64
numpy row built by one list comprehension, FastAPI's default JSON response, gunicorn's defaults
with uvicorn-worker. Beside ``bare`` (LightGBM) and the service with full telemetry, it splits the
service's ratio to bare in two: the engine's saving (this app against ``bare``) and
telemetry's own cost (the service against this app). The two bare apps stay as they are.

The engine is the artifact ``python -m bench`` builds into ``.run/engine`` before any server
starts (as `make run` does): ``<sha256 of the model file>.lleaves.o``, the object code lleaves
compiled the trees to (one block of all trees, the x86-64-v2 baseline). It is loaded with
lleaves' own API alone: ``lleaves.Model(model_file=...)`` then ``compile(cache=artifact)``,
which, the cache file existing, links that object code and generates none. Nothing of
``app`` is imported, so the reference cannot inherit the service's code: the project's checks
of the artifact (its manifest, its sha256, the host's CPU features:
app/model/compiled_engine.py) are not made here. They are not needed for an honest figure:
the harness checks every answer of every server against the raw model (within 1e-12) before
and after timing, so a stale or foreign artifact fails the run instead of being measured. One
thread, on the calling one (``n_jobs=1``: lleaves' default is a thread pool of one thread per
CPU), as ``OMP_NUM_THREADS=1`` gives bare's LightGBM. The ``Booster`` ``_Model`` loads (and
checks the features of) is not used: it adds its few MiB to this app's RSS.
"""

# No ``from __future__ import annotations``: FastAPI must see the real row class (bare_app.py).

import hashlib
import json
from pathlib import Path
from typing import Any

import lleaves
import numpy as np
from fastapi import FastAPI

from bench.bare_app import MODEL_DIR, NAN, _Model

# Where `python -m bench` builds the compiled engine (bench/configs.py's ENGINE_DIR, which
# passes it explicitly in the gunicorn app string).
ENGINE_DIR = Path(__file__).resolve().parents[1] / ".run" / "engine"
ARTIFACT_SUFFIX = ".lleaves.o"


def load_engine(model_dir: Path, engine_dir: Path) -> Any:
    """The compiled lleaves model of ``model_dir``'s model file, from its cached object code."""
    card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    model_file = model_dir / card["model"]["file"]
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    artifact = engine_dir / f"{digest}{ARTIFACT_SUFFIX}"
    if not artifact.is_file():
        raise RuntimeError(f"no compiled engine {artifact}: `python -m bench` builds it")
    forest = lleaves.Model(model_file=str(model_file))
    forest.compile(cache=str(artifact))
    return forest


def create_app(engine_dir: str | Path = ENGINE_DIR, model_dir: Path = MODEL_DIR) -> FastAPI:
    """``POST /predict`` -> ``{"churn_probability": p}``, bare_app.create_app's route with the
    compiled engine predicting."""
    model = _Model(model_dir)
    names, codes = model.names, model.codes
    forest = load_engine(model_dir, Path(engine_dir))
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
        return {"churn_probability": float(forest.predict(x, n_jobs=1)[0])}

    return app
