"""The composition root: ``create_app(settings)`` wires every part; the lifespan loads the model.

gunicorn calls ``app.main:create_app()`` in each worker after fork, so the model (and every
thread) is created per worker, never in the master.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from app.api.body_limit import DeclaredBodyLimit
from app.api.deps import ServiceState
from app.api.errors import install_error_handlers
from app.api.routes import operations_router, prediction_router
from app.api.schemas import build_schemas
from app.model.card import CARD_FILE, ModelCard
from app.model.errors import ModelError
from app.model.predictor import Predictor
from app.settings import Settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.service
    settings = state.settings
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
        logger.info("model loaded: %s", predictor.version)
    except ModelError as exc:
        # Stay alive and unready: /readyz says why, and the orchestrator keeps traffic away.
        state.load_error = str(exc)
        logger.error("model failed to load, refusing to become ready: %s", exc)
    yield
    state.predictor = None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    card = ModelCard.load(settings.model_dir / CARD_FILE)
    schemas = build_schemas(card, settings.max_batch_rows)
    app = FastAPI(
        title="Glassbox",
        summary=f"Churn predictions from {card.version}.",
        version=card.version,
        lifespan=lifespan,
    )
    app.state.service = ServiceState(settings=settings, card=card)
    install_error_handlers(app)
    app.add_middleware(DeclaredBodyLimit, max_body_bytes=settings.max_body_bytes)
    app.include_router(
        prediction_router(schemas, settings.threadpool_min_rows),
        max_body_size=settings.max_body_bytes,
    )
    app.include_router(operations_router())
    return app
