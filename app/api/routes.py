"""Route handlers: each one validates through its schema, delegates to the core and records
the domain metrics of what it did."""

# No ``from __future__ import annotations``: the request models are built per model card at
# app creation, and FastAPI must see the real classes in the handler signatures.

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client.registry import Collector

from app.api.admission import deadline_of
from app.api.deps import StateDep, WorkerState, ready_predictor
from app.api.errors import ClientDisconnectedError, DeadlineExceededError
from app.api.json_body import JsonBodyRoute
from app.api.schemas import ErrorOut, Schemas
from app.api.work_budget import WorkBudget
from app.drift.recorder import DriftRecorder
from app.drift.report import DriftView
from app.model.predictor import Predictions, Predictor
from app.settings import Settings
from app.telemetry.exposition import render
from app.telemetry.metrics import Metrics
from app.telemetry.request_context import RequestRecord, current_request
from app.telemetry.tracing import TracerRef

PREDICT_ROUTE = "/predict"
BATCH_ROUTE = "/predict/batch"
PREDICTION_ROUTES = (PREDICT_ROUTE, BATCH_ROUTE)
METRICS_ROUTE = "/metrics"
DRIFT_ROUTE = "/drift"
# What the admin port serves when there is one (app/api/ports.py).
ADMIN_ROUTES = (METRICS_ROUTE, DRIFT_ROUTE)
_TAGS: list[str | Enum] = ["predictions"]


def _error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut, "description": d} for status, d in descriptions.items()}


# What any route can answer: the HTTP layer (app/http_protocol.py) before the app sees the
# request, and the router.
_HTTP_ERRORS = {
    400: "The request is not valid HTTP/1.1 (`invalid_http`).",
    405: "The method is not allowed; `Allow` names the one that is.",
    408: "The request's line and headers did not arrive in time (`request_timeout`).",
    431: "The request's line and headers are too large, or too many (`headers_too_large`).",
    503: "The worker holds as many connections as it may (`overloaded`, `Retry-After`).",
}
_ANY_ROUTE = _error_responses(_HTTP_ERRORS)
_ERRORS = _error_responses(_HTTP_ERRORS | {
    400: "The body is not valid JSON (`invalid_json`), or the request not valid HTTP/1.1 "
    "(`invalid_http`).",
    413: "The body is larger than the configured limit.",
    415: "The body is not application/json (or has no content type).",
    422: "The body does not match the schema; `loc` names each offending field.",
    503: "The model is not loaded, or the server is overloaded (`Retry-After` says when "
    "to retry).",
    504: "The request did not finish within its deadline.",
})  # fmt: skip


def prediction_id_prefix() -> str:
    """The first 24 hex digits of a request's prediction ids; see ``PREDICTION_ID_DOC``."""
    # The random module reseeds in every forked worker; ids need uniqueness, not secrecy.
    return f"{time.time_ns() // 1_000_000:012x}{random.getrandbits(48):012x}"


def prediction_id(prefix: str, row: int) -> str:
    """The id of a request's row ``row`` (0 for a single prediction)."""
    return f"{prefix}{row:08x}"


_row_suffixes: list[str] = []


def row_suffixes(rows: int) -> list[str]:
    """At least ``rows`` ids' last 8 hex digits (``prediction_id("", i)`` for row 0, 1, ...):
    formatted once, for the largest batch so far, rather than for every row of every response.
    Called on the event loop's thread only."""
    if len(_row_suffixes) < rows:
        _row_suffixes.extend(prediction_id("", i) for i in range(len(_row_suffixes), rows))
    return _row_suffixes


def batch_outputs(
    prefix: str,
    version: str,
    probabilities: list[float],
    decisions: list[bool],
    probability_field: str,
    decision_field: str,
) -> list[dict[str, Any]]:
    """A batch response's predictions, in row order: one comprehension over the columns."""
    return [
        {"prediction_id": prefix + suffix, probability_field: p, decision_field: d,
         "model_version": version}
        # The suffixes may be more than the rows.
        for suffix, p, d in zip(row_suffixes(len(probabilities)), probabilities, decisions,
                                strict=False)
    ]  # fmt: skip


def json_response(content: Any) -> Response:
    """A JSON response rendered by orjson. The handlers build their output from values they
    made themselves (floats, bools, ids, the card's version), so pydantic's validation of the
    response model is skipped; the schema tests check the bodies against the models."""
    return Response(orjson.dumps(content), media_type="application/json")


def add_prediction_routes(
    router: APIRouter,
    state: WorkerState,
    schemas: Schemas,
    drift: DriftRecorder | None,
    metrics: Metrics,
    tracer_ref: TracerRef,
    settings: Settings,
) -> None:
    """``POST /predict`` and ``POST /predict/batch``.

    The hot path of the service, kept lean on purpose: the handlers reach the predictor through
    ``state`` (a closure) rather than a FastAPI dependency (~20 µs each), and return orjson bytes
    rather than a response model to validate and serialize (~10 µs).
    """
    threadpool_min_rows = settings.threadpool_min_rows
    overload = settings.overload
    chunk_rows, chunk_delay_s = overload.batch_chunk_rows, overload.test_chunk_delay_seconds
    # Typed Any: mypy cannot follow models generated from the card.
    Row: Any = schemas.row
    Batch: Any = schemas.batch
    # The response's field names are the card's (e.g. churn_probability and churn).
    output = state.card.output
    probability_field, decision_field = output.probability_field, output.decision_field

    async def predict_rows(
        predictor: Predictor, rows: list[dict[str, Any]], budget: WorkBudget | None
    ) -> Predictions:
        # One row costs ~60 µs inline and ~260 µs through a thread hop, so small requests stay
        # on the event loop; large batches go to a thread so they never block it.
        if budget is None:
            return predictor.predict(rows)
        if len(rows) >= threadpool_min_rows:
            return await run_in_threadpool(
                predictor.predict_in_chunks, rows, chunk_rows, budget.before_chunk
            )
        return predictor.predict_in_chunks(rows, chunk_rows, budget.before_chunk)

    async def run(
        predictor: Predictor,
        route: str,
        rows: list[dict[str, Any]],
        record: RequestRecord | None,
        budget: WorkBudget | None = None,
    ) -> Predictions:
        started = time.perf_counter()
        if record is not None and record.sampled_span is not None:
            # Two child spans that matter, only for sampled requests: the time from the request's
            # start to here (body read, JSON decode, validation) and the model itself.
            tracer = tracer_ref.tracer
            tracer.start_span("decode_validate", start_time=record.started_ns).end()
            attributes = {"glassbox.model_version": predictor.version, "glassbox.rows": len(rows)}
            # Not made current: nothing inside starts spans or logs, and attaching costs.
            span = tracer.start_span("predict", attributes=attributes)
            try:
                predictions = await predict_rows(predictor, rows, budget)
            finally:
                span.end()
        else:
            predictions = await predict_rows(predictor, rows, budget)
        metrics.observe_predictions(
            route, predictions.probabilities, predictions.positives, time.perf_counter() - started
        )
        if drift is not None:
            # Before the response is sent: a count survives a kill -9 once the client has its
            # answer. On the event loop thread: one writer per worker file.
            drift.record(predictions.features, predictions.probabilities)
        return predictions

    async def predict(row: Row, request: Request) -> Response:
        predictor = ready_predictor(state)
        if time.monotonic() > deadline_of(request.scope):
            # Its body took longer than the deadline to arrive. (Nothing checks a single row's
            # connection: its whole request runs in one pass of the loop, before the loop can
            # read that the client left; README: Overload.)
            raise DeadlineExceededError
        record = current_request()
        predictions = await run(predictor, PREDICT_ROUTE, [row.__dict__], record)
        row_id = prediction_id(prediction_id_prefix(), 0)
        probability = float(predictions.probabilities[0])
        if record is not None:
            record.annotate(**{
                "prediction_id": row_id, "model_version": predictor.version,
                probability_field: probability,
            })  # fmt: skip
            if record.sampled_span is not None:
                record.sampled_span.set_attribute("glassbox.prediction_id", row_id)
        return json_response({
            "prediction_id": row_id, probability_field: probability,
            decision_field: bool(predictions.decisions[0]), "model_version": predictor.version,
        })  # fmt: skip

    async def predict_batch(batch: Batch, request: Request) -> Response:
        predictor = ready_predictor(state)
        record = current_request()
        rows = [row.__dict__ for row in batch.rows]
        metrics.observe_batch_size(len(rows))
        budget = WorkBudget(deadline_of(request.scope), chunk_delay_s)
        watcher = asyncio.create_task(budget.watch(request.receive))
        try:
            predictions = await run(predictor, BATCH_ROUTE, rows, record, budget)
        except (DeadlineExceededError, ClientDisconnectedError):
            if record is not None:
                # The canonical line says how far the work got before it stopped.
                record.annotate(rows=len(rows), rows_predicted=budget.rows_done)
            raise
        finally:
            watcher.cancel()
        prefix = prediction_id_prefix()
        version = predictor.version
        outputs = batch_outputs(
            prefix, version, predictions.probabilities.tolist(), predictions.decisions.tolist(),
            probability_field, decision_field,
        )  # fmt: skip
        if record is not None:
            record.annotate(
                prediction_id_prefix=prefix, rows=len(rows), positives=predictions.positives,
                model_version=version,
            )  # fmt: skip
            if record.sampled_span is not None:
                # Row ids are this prefix plus the row index as 8 hex digits.
                record.sampled_span.set_attribute("glassbox.prediction_id_prefix", prefix)
                record.sampled_span.set_attribute("glassbox.rows", len(rows))
        return json_response({"model_version": version, "predictions": outputs})

    # The bodies are validated straight from their bytes (app/api/json_body.py); the OpenAPI
    # document is FastAPI's, from the signatures, as for any route.
    router.add_api_route(
        PREDICT_ROUTE, predict, methods=["POST"], route_class_override=JsonBodyRoute,
        response_model=schemas.prediction, tags=_TAGS, responses=_ERRORS,
        description=f"The model's {probability_field} for one {state.card.record_name}. Absent "
        "or null optional features are missing.",
    )  # fmt: skip
    router.add_api_route(
        BATCH_ROUTE, predict_batch, methods=["POST"], route_class_override=JsonBodyRoute,
        response_model=schemas.batch_prediction, tags=_TAGS, responses=_ERRORS,
        description=f"The model's {probability_field} for many rows, in input order. One bad "
        "row rejects all.",
    )  # fmt: skip


def add_drift_routes(router: APIRouter, report: Callable[[], DriftView]) -> None:
    @router.get(DRIFT_ROUTE, tags=["drift"], responses=_ANY_ROUTE)
    def drift() -> dict[str, Any]:
        """Drift of the pod's traffic against the reference profile, per feature and for the
        prediction: counts, PSI, Jensen-Shannon distance, chi-square (categorical), missing
        rates and the reference vs observed proportions. Cumulative since the pod started."""
        # A plain def: merging the workers' counts reads files, so it runs on a thread.
        return report().as_dict()


def add_operations_routes(
    router: APIRouter, metrics: Metrics, collectors: Sequence[Collector] = ()
) -> None:
    tags: list[str | Enum] = ["operations"]

    @router.get("/healthz", tags=tags, responses=_ANY_ROUTE)
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests. Never touches the model."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        tags=tags,
        responses=_ANY_ROUTE | {503: {"description": "Not ready; `reason` says why."}},
    )
    async def readyz(state: StateDep) -> JSONResponse:
        """Readiness: 200 only when the model is loaded and verified, and the pod is not
        draining before shutdown."""
        if state.drain.is_set:
            return JSONResponse({"status": "not_ready", "reason": "draining"}, status_code=503)
        if state.predictor is None:
            reason = state.load_error or "model is loading"
            return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": state.predictor.version,
                             "engine": state.predictor.engine})  # fmt: skip

    @router.get("/model", tags=tags, responses=_ANY_ROUTE)
    async def model(state: StateDep) -> dict[str, Any]:
        """The model card of the model this service was built for."""
        return state.card.document

    @router.get(METRICS_ROUTE, include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        # A plain def: merging the workers' files is blocking I/O, so it runs on a thread.
        payload, content_type = render(metrics, request.headers.get("accept"), collectors)
        return Response(payload, media_type=content_type)
