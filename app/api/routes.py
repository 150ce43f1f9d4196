"""Route handlers: each one validates through its schema, delegates to the core and records
the domain metrics of what it did."""

# No ``from __future__ import annotations``: the request models are built per model card at
# app creation, and FastAPI must see the real classes in the handler signatures.

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client.registry import Collector

from app.api.deps import PredictorDep, StateDep
from app.api.schemas import BatchPredictionOut, ErrorOut, PredictionOut, Schemas
from app.drift.recorder import DriftRecorder
from app.model.predictor import Predictions, Predictor
from app.telemetry.exposition import render
from app.telemetry.metrics import Metrics
from app.telemetry.request_context import annotate, current_request
from app.telemetry.tracing import TracerRef

PREDICT_ROUTE = "/predict"
BATCH_ROUTE = "/predict/batch"
PREDICTION_ROUTES = (PREDICT_ROUTE, BATCH_ROUTE)

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


def _outputs(predictions: Predictions, version: str) -> list[dict[str, Any]]:
    ids = prediction_ids(len(predictions))
    return [
        {"prediction_id": i, "churn_probability": p, "churn": c, "model_version": version}
        for i, p, c in zip(
            ids, predictions.probabilities.tolist(), predictions.churn.tolist(), strict=True
        )
    ]


def prediction_router(
    schemas: Schemas,
    metrics: Metrics,
    tracer_ref: TracerRef,
    drift: DriftRecorder | None,
    threadpool_min_rows: int,
) -> APIRouter:
    router = APIRouter(tags=["predictions"], responses=_ERRORS)
    # Typed Any: mypy cannot follow models generated from the card.
    Row: Any = schemas.row
    Batch: Any = schemas.batch

    async def predict_rows(predictor: Predictor, rows: list[dict[str, Any]]) -> Predictions:
        # One row costs ~70 µs inline and ~260 µs through a thread hop, so small requests stay
        # on the event loop; large batches go to a thread so they never block it.
        if len(rows) >= threadpool_min_rows:
            return await run_in_threadpool(predictor.predict, rows)
        return predictor.predict(rows)

    async def run(predictor: Predictor, route: str, rows: list[dict[str, Any]]) -> Predictions:
        started = time.perf_counter()
        server_span = trace.get_current_span()
        if server_span.is_recording():
            # Two child spans that matter, only for sampled requests: the time from the request's
            # start to here (body read, JSON decode, validation) and the model itself.
            tracer = tracer_ref.tracer
            record = current_request()
            if record is not None:
                tracer.start_span("decode_validate", start_time=record.started_ns).end()
            attributes = {"glassbox.model_version": predictor.version, "glassbox.rows": len(rows)}
            with tracer.start_as_current_span("predict", attributes=attributes):
                predictions = await predict_rows(predictor, rows)
        else:
            predictions = await predict_rows(predictor, rows)
        metrics.observe_predictions(
            route, predictions.probabilities, predictions.churned, time.perf_counter() - started
        )
        if drift is not None:
            # Before the response is sent: a count survives a kill -9 once the client has its
            # answer. On the event loop thread: one writer per worker file.
            drift.record(predictions.features)
        return predictions

    @router.post(PREDICT_ROUTE, response_model=PredictionOut)
    async def predict(row: Row, predictor: PredictorDep) -> dict[str, Any]:
        """Churn probability for one customer. Absent or null optional features are missing."""
        predictions = await run(predictor, PREDICT_ROUTE, [row.__dict__])
        (out,) = _outputs(predictions, predictor.version)
        trace.get_current_span().set_attribute("glassbox.prediction_id", out["prediction_id"])
        annotate(
            prediction_id=out["prediction_id"], model_version=predictor.version,
            churn_probability=out["churn_probability"],
        )  # fmt: skip
        return out

    @router.post(BATCH_ROUTE, response_model=BatchPredictionOut)
    async def predict_batch(batch: Batch, predictor: PredictorDep) -> dict[str, Any]:
        """Churn probabilities for many customers, in input order. One bad row rejects all."""
        rows = [row.__dict__ for row in batch.rows]
        metrics.observe_batch_size(len(rows))
        predictions = await run(predictor, BATCH_ROUTE, rows)
        outputs = _outputs(predictions, predictor.version)
        # Row ids are this prefix plus the row index as 8 hex digits.
        prefix = outputs[0]["prediction_id"][:24]
        span = trace.get_current_span()
        span.set_attribute("glassbox.prediction_id_prefix", prefix)
        span.set_attribute("glassbox.rows", len(rows))
        annotate(
            prediction_id_prefix=prefix, rows=len(rows), churned=predictions.churned,
            model_version=predictor.version,
        )  # fmt: skip
        return {"model_version": predictor.version, "predictions": outputs}

    return router


def drift_router(report: Callable[[], dict[str, Any]]) -> APIRouter:
    router = APIRouter(tags=["drift"])

    @router.get("/drift")
    def drift() -> dict[str, Any]:
        """Drift of the pod's traffic against the reference profile, per feature and for the
        prediction: counts, PSI, Jensen-Shannon distance, chi-square (categorical), missing
        rates and the reference vs observed proportions. Cumulative since the pod started."""
        # A plain def: merging the workers' counts reads files, so it runs on a thread.
        return report()

    return router


def operations_router(metrics: Metrics, collectors: Sequence[Collector] = ()) -> APIRouter:
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

    @router.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        # A plain def: merging the workers' files is blocking I/O, so it runs on a thread.
        payload, content_type = render(metrics, request.headers.get("accept"), collectors)
        return Response(payload, media_type=content_type)

    return router
