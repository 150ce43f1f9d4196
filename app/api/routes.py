"""Route handlers: each one validates through its schema and delegates to the core."""

# No ``from __future__ import annotations``: the request models are built per model card at
# app creation, and FastAPI must see the real classes in the handler signatures.

import os
import time
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.api.deps import PredictorDep, StateDep
from app.api.schemas import BatchPredictionOut, ErrorOut, PredictionOut, Schemas
from app.model.predictor import Prediction

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "The body is not valid JSON.",
        413: "The body is larger than the configured limit.",
        415: "The body is not application/json.",
        422: "The body does not match the schema; `loc` names each offending field.",
        503: "The model is not loaded.",
    }.items()
}


def prediction_ids(count: int) -> list[str]:
    """Ids for the rows of one request; see ``PREDICTION_ID_DOC``."""
    prefix = f"{time.time_ns() // 1_000_000:012x}{os.urandom(6).hex()}"
    return [f"{prefix}{i:08x}" for i in range(count)]


def _out(pid: str, prediction: Prediction, version: str) -> dict[str, Any]:
    return {
        "prediction_id": pid,
        "churn_probability": prediction.churn_probability,
        "churn": prediction.churn,
        "model_version": version,
    }


def prediction_router(schemas: Schemas, threadpool_min_rows: int) -> APIRouter:
    router = APIRouter(tags=["predictions"], responses=_ERRORS)
    # Typed Any: mypy cannot follow models generated from the card.
    Row: Any = schemas.row
    Batch: Any = schemas.batch

    @router.post("/predict", response_model=PredictionOut)
    async def predict(row: Row, predictor: PredictorDep) -> dict[str, Any]:
        """Churn probability for one customer. Absent or null optional features are missing."""
        (prediction,) = predictor.predict([row.__dict__])
        return _out(prediction_ids(1)[0], prediction, predictor.version)

    @router.post("/predict/batch", response_model=BatchPredictionOut)
    async def predict_batch(batch: Batch, predictor: PredictorDep) -> dict[str, Any]:
        """Churn probabilities for many customers, in input order. One bad row rejects all."""
        rows = [row.__dict__ for row in batch.rows]
        if len(rows) >= threadpool_min_rows:
            predictions = await run_in_threadpool(predictor.predict, rows)
        else:
            predictions = predictor.predict(rows)
        version = predictor.version
        ids = prediction_ids(len(rows))
        return {
            "model_version": version,
            "predictions": [_out(i, p, version) for i, p in zip(ids, predictions, strict=True)],
        }

    return router


def operations_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests. Never touches the model."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "Not ready; `reason` says why."}})
    async def readyz(state: StateDep) -> JSONResponse:
        """Readiness: 200 only when the model is loaded and verified."""
        if state.predictor is None:
            reason = state.load_error or "model is loading"
            return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": state.predictor.version})

    @router.get("/model")
    async def model(state: StateDep) -> dict[str, Any]:
        """The model card of the model this service was built for."""
        return state.card.document

    return router
