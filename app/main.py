"""The composition root: ``create_app(settings)`` wires every part; the lifespan loads the model.

gunicorn calls ``app.main:create_app()`` in each worker after fork, so the model, the metrics
files and every thread are created per worker, never in the master.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from app.api.body_limit import DeclaredBodyLimit
from app.api.deps import ServiceState
from app.api.errors import failure_label_pairs, install_error_handlers
from app.api.routes import PREDICTION_ROUTES, operations_router, prediction_router
from app.api.schemas import build_schemas
from app.drift.reference import load_profile
from app.model.card import CARD_FILE, PROFILE_FILE, ModelCard
from app.model.contract import FeatureKind
from app.model.errors import ModelError
from app.model.predictor import Predictor
from app.settings import Settings
from app.telemetry.metrics import Metrics, ModelLabels
from app.telemetry.middleware import RequestMetricsMiddleware

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.service
    settings = state.settings
    state.metrics.worker_started()
    try:
        predictor = await run_in_threadpool(
            Predictor.load, settings.model_dir, settings.model_threads
        )
        if predictor.version != state.card.version:
            raise ModelError(
                f"model card changed under the service: built for {state.card.version}, "
                f"loaded {predictor.version}"
            )
        state.predictor = predictor
        state.metrics.set_model_ready(True)
        logger.info("model loaded: %s", predictor.version)
    except ModelError as exc:
        # Stay alive and unready: /readyz says why, and the orchestrator keeps traffic away.
        state.load_error = str(exc)
        logger.error("model failed to load, refusing to become ready: %s", exc)
    yield
    state.metrics.set_model_ready(False)
    state.predictor = None


def _metrics(settings: Settings, card: ModelCard) -> Metrics:
    profile = load_profile(settings.model_dir / PROFILE_FILE)
    trained_at = datetime.fromisoformat(card.trained_at.replace("Z", "+00:00")).timestamp()
    labels = ModelLabels(
        version=card.version,
        short_sha=card.short_sha,
        trained_at_seconds=trained_at,
        probability_edges=tuple(profile["prediction"]["edges"]),
    )
    failure_fields = failure_label_pairs(
        [
            (f.name, f.minimum is not None or f.maximum is not None,
             f.kind is FeatureKind.CATEGORY)
            for f in card.contract
        ]
    )  # fmt: skip
    return Metrics(labels, PREDICTION_ROUTES, failure_fields, settings.latency_slo_seconds)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    card = ModelCard.load(settings.model_dir / CARD_FILE)
    schemas = build_schemas(card, settings.max_batch_rows)
    metrics = _metrics(settings, card)
    app = FastAPI(
        title="Glassbox",
        summary=f"Churn predictions from {card.version}.",
        version=card.version,
        lifespan=lifespan,
    )
    app.state.service = ServiceState(settings=settings, card=card, metrics=metrics)
    install_error_handlers(app, card.contract.names, metrics.count_validation_failures)
    app.include_router(
        prediction_router(schemas, metrics, settings.threadpool_min_rows),
        max_body_size=settings.max_body_bytes,
    )
    app.include_router(operations_router(metrics))
    # Middleware added last runs first: metrics see every response, the 413s included.
    app.add_middleware(
        DeclaredBodyLimit,
        max_body_bytes=settings.max_body_bytes,
        on_rejected=metrics.count_validation_failures,
        routes=PREDICTION_ROUTES,
    )
    if settings.metrics_enabled:
        app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes=PREDICTION_ROUTES)
    return app
