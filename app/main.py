"""The composition root: ``create_app(settings)`` reads the model directory's card and
reference profile once and wires every part; :class:`ServiceState` is what one worker holds;
the lifespan starts what must start per worker after fork (tracing's export thread, the model,
its warm-up before readiness, the drift loop) and stops it.

gunicorn calls ``app.main:create_server_app()`` in each worker after fork, so the model, the
metrics files and every thread are created per worker, never in the master.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from opentelemetry.sdk.trace.export import SpanExporter

from app.api.admission import SHEDDING_STATE_KEY, Admission, Shedding
from app.api.body_limit import BodyLimit
from app.api.connection_close import CloseConnectionsWhileDraining
from app.api.errors import failure_label_pairs, install_error_handlers
from app.api.ports import split_ports
from app.api.routes import (
    PREDICTION_ROUTES,
    add_drift_routes,
    add_operations_routes,
    add_prediction_routes,
)
from app.api.schemas import Schemas, build_schemas
from app.api.worker_pid_header import WorkerPidHeader
from app.drain_flag import DrainFlag
from app.drift.assembly import Drift, assemble_drift
from app.fast_paths import FastPaths
from app.loop_lag import LoopLag
from app.model.card import CARD_FILE, PROFILE_FILE, ModelCard
from app.model.errors import ModelError
from app.model.predictor import Predictor, threads_per_call
from app.model.profile import ReferenceProfile
from app.settings import Settings
from app.telemetry.drift_collector import DriftCollector
from app.telemetry.exposition import multiprocess_dir
from app.telemetry.http_labels import RouteLabels
from app.telemetry.logging import (
    RequestLog,
    configure_logging,
    install_process_hooks,
    route_lightgbm_logs,
)
from app.telemetry.metrics import Metrics, ModelLabels
from app.telemetry.middleware import RequestTelemetryMiddleware
from app.telemetry.tracing import TracerRef, resource_attributes, setup_tracing
from app.warm_up import warm_up

logger = logging.getLogger("glassbox")


IN_FLIGHT_PUBLISH_SECONDS = 1.0
# How often a worker writes the largest loop lag it measured since the last write to its gauge.
LOOP_LAG_PUBLISH_SECONDS = 1.0
# How often a worker copies the drain flag to glassbox_draining (readiness and Connection: close
# read the flag itself, per request).
DRAIN_GAUGE_SECONDS = 0.1


async def every(seconds: float, action: Callable[[], None]) -> None:
    """Run ``action`` every ``seconds`` until cancelled; a failing run is logged, not fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            action()
        except Exception:
            logger.exception("periodic %s failed", getattr(action, "__qualname__", action))


def freeze_long_lived_objects() -> None:
    """Move every object alive now (the app, the model, the libraries: ~120k) to the
    collector's permanent generation. Otherwise each full (generation 2) collection walks
    them all: a 40-60 ms pause of the event loop every twenty seconds or so under load.
    A collection first, so that start-up's garbage is freed rather than frozen."""
    gc.collect()
    gc.freeze()


@dataclass
class ServiceState:
    """What one worker holds; the API reads it as :class:`app.api.deps.WorkerState`.
    ``predictor`` is set by the lifespan once the model is loaded."""

    settings: Settings
    card: ModelCard
    metrics: Metrics
    tracer_ref: TracerRef
    drift: Drift
    fast_paths: FastPaths
    span_exporter: SpanExporter | None = None
    # The request models, for the warm-up before readiness (app/warm_up.py).
    schemas: Schemas | None = None
    request_log: RequestLog | None = None
    predictor: Predictor | None = None
    load_error: str | None = None
    # Set by the master on SIGTERM (shared by every worker); never set without a master.
    drain: DrainFlag = field(default_factory=DrainFlag)
    # Measured by a task the lifespan starts; admission reads it on every prediction request.
    loop_lag: LoopLag = field(default_factory=lambda: LoopLag(0.01))
    # Set by the app factory; the lifespan hands it to the HTTP protocol.
    shedding: Shedding | None = None


async def _load_model(state: ServiceState) -> Predictor | None:
    """The model of the card the app was built for (the card is not read again), with its
    compiled engine when the settings ask for it and its artifact checks out."""
    settings = state.settings
    engine_dir = settings.model_engine_dir if settings.model_engine == "auto" else None
    try:
        predictor = await run_in_threadpool(
            Predictor.load, settings.model_dir, threads_per_call(settings.model_threads),
            state.card, engine_dir, settings.server.worker_tmp_dir,
        )  # fmt: skip
    except ModelError as exc:
        # Stay alive and unready: /readyz says why, and the orchestrator keeps traffic away.
        state.load_error = str(exc)
        logger.error("model failed to load, refusing to become ready: %s", exc)
        return None
    if predictor.engine_refused is not None:
        logger.warning(
            "model loaded: %s; engine lightgbm, the compiled engine refused: %s",
            predictor.version, predictor.engine_refused,
        )  # fmt: skip
    elif engine_dir is None:
        why = (
            "GLASSBOX_MODEL_ENGINE=lightgbm"
            if settings.model_engine == "lightgbm"
            else "no GLASSBOX_MODEL_ENGINE_DIR"
        )
        logger.info("model loaded: %s; engine %s (%s)", predictor.version, predictor.engine, why)
    else:
        logger.info("model loaded: %s; engine %s", predictor.version, predictor.engine)
    return predictor


def _drain_gauge(state: ServiceState) -> Callable[[], None]:
    seen = False

    def publish() -> None:
        nonlocal seen
        if state.drain.is_set and not seen:
            seen = True
            state.metrics.set_draining(True)
            logger.info("pod draining: /readyz answers 503, responses close their connections")

    return publish


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
    state: ServiceState = app.state.service
    settings = state.settings
    state.metrics.worker_started()
    tracing = None
    if settings.tracing.enabled:
        tracing = setup_tracing(
            resource_attributes(
                state.card.version, settings.environment, settings.pod_name,
                settings.pod_namespace,
            ),
            settings.tracing.max_pending,
            state.metrics.spans_were_exported,
            state.metrics.spans_were_dropped,
            exporter=state.span_exporter, fast_paths=state.fast_paths,
        )  # fmt: skip
    if tracing is not None:
        state.tracer_ref.use(tracing)
    predictor = await _load_model(state)
    state.metrics.set_model_engine(predictor.engine if predictor is not None else "none")
    if predictor is not None and state.schemas is not None:
        # Before readiness, and before the freeze: what the first calls build is kept.
        warm_up(
            predictor, state.schemas, state.card, state.request_log, state.fast_paths,
            state.drift.counts.prepare if state.drift.recorder is not None else lambda: None,
        )  # fmt: skip
    if settings.server.gc_freeze:
        freeze_long_lived_objects()
    if predictor is not None:
        state.predictor = predictor
        state.metrics.set_model_ready(True)
    drift_monitor = state.drift.monitor
    if drift_monitor is not None:
        drift_monitor.start()
    lag = state.loop_lag
    periodic = [
        asyncio.create_task(lag.run()),
        asyncio.create_task(
            every(LOOP_LAG_PUBLISH_SECONDS, lambda: state.metrics.publish_loop_lag(lag.take_peak()))
        ),
        asyncio.create_task(every(IN_FLIGHT_PUBLISH_SECONDS, state.metrics.publish_in_flight)),
        asyncio.create_task(every(DRAIN_GAUGE_SECONDS, _drain_gauge(state))),
    ]
    lifespan_state: dict[str, object] = {}
    if state.shedding is not None:
        periodic.append(
            asyncio.create_task(every(state.shedding.report_seconds, state.shedding.report))
        )
        lifespan_state[SHEDDING_STATE_KEY] = state.shedding
    request_log = state.request_log
    if request_log is not None and request_log.flush_seconds > 0:
        periodic.append(asyncio.create_task(every(request_log.flush_seconds, request_log.flush)))
    yield lifespan_state
    for task in periodic:
        task.cancel()
    if request_log is not None:
        request_log.flush()
    state.metrics.set_model_ready(False)
    if drift_monitor is not None:
        await drift_monitor.stop(settings.drift.stop_timeout_seconds)
    state.predictor = None
    if tracing is not None:
        await run_in_threadpool(tracing.shutdown, settings.tracing.flush_timeout_seconds)


def _metrics(
    settings: Settings, card: ModelCard, profile: ReferenceProfile, fast_paths: FastPaths
) -> Metrics:
    trained_at = datetime.fromisoformat(card.trained_at.replace("Z", "+00:00")).timestamp()
    labels = ModelLabels(
        version=card.version,
        short_sha=card.short_sha,
        trained_at_seconds=trained_at,
        probability_edges=profile.prediction.edges,
        outcomes=(card.output.positive_outcome, card.output.negative_outcome),
    )
    return Metrics(
        labels, PREDICTION_ROUTES, failure_label_pairs(card.contract),
        request_buckets_seconds=settings.request_latency_buckets_seconds,
        inference_buckets_seconds=settings.latency_buckets_seconds, fast_paths=fast_paths,
    )  # fmt: skip


def _shedding(state: ServiceState, metrics: Metrics) -> Shedding:
    """The worker's admission policy; the protocol finds it in the lifespan's state, and hands
    it the worker's requests in progress."""
    settings = state.settings
    overload = settings.overload
    metrics.set_shed_threshold(overload.shed_lag_seconds)
    metrics_enabled = settings.metrics_enabled

    def refused(method: str, route: str, seconds: float) -> None:
        metrics.count_shed(route)
        if metrics_enabled:
            metrics.request_answered(method, route, 503, seconds)

    return Shedding(
        state.loop_lag, overload.shed_lag_seconds, overload.shed_retry_after_seconds,
        PREDICTION_ROUTES, on_shed=metrics.count_shed, on_refused=refused,
        draining=lambda: state.drain.is_set,
        extra_headers=[WorkerPidHeader.header_of_this_process()]
        if settings.server.worker_pid_header else (),
        in_protocol=state.fast_paths.on("protocol_shed"),  # else the admission layer refuses all
    )  # fmt: skip


def create_server_app() -> FastAPI:
    """What the servers call (gunicorn in each worker, ``make dev``): the app, and the process's
    hooks routed through the log, which an app built in-process leaves to the process's owner."""
    settings = Settings()
    install_process_hooks(settings.log.format)
    return create_app(settings)


def create_app(
    settings: Settings | None = None, span_exporter: SpanExporter | None = None
) -> FastAPI:
    """Build the app. ``span_exporter`` replaces the OTLP exporter (tests pass an in-memory one).
    Configures logging, but installs no process-wide hook (see :func:`create_server_app`)."""
    settings = settings or Settings()
    configure_logging(settings.log.level, settings.log.format)
    route_lightgbm_logs()
    # The card and the profile are read here, once per worker; the lifespan loads the model
    # against this card.
    card = ModelCard.load(settings.model_dir / CARD_FILE)
    profile = ReferenceProfile.load(settings.model_dir / PROFILE_FILE, card.contract)
    schemas = build_schemas(card, settings.max_batch_rows)
    fast_paths = FastPaths.from_setting(settings.fast_paths)
    logger.info("fast paths: %s", ", ".join(sorted(fast_paths.enabled)) or "none")
    metrics = _metrics(settings, card, profile, fast_paths)
    drift = assemble_drift(card, profile, settings.drift, multiprocess_dir())
    tracer_ref = TracerRef()
    app = FastAPI(
        title="Glassbox",
        summary=f"{card.output.probability_field} from {card.version}.",
        version=card.version,
        lifespan=lifespan,
        # One tracing path: ours (measured cheaper). FastAPI's native telemetry switches itself
        # on when a global tracer provider exists; this keeps it off whatever else is installed.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    state = app.state.service = ServiceState(
        settings=settings, card=card, metrics=metrics, tracer_ref=tracer_ref, drift=drift,
        fast_paths=fast_paths, span_exporter=span_exporter, schemas=schemas,
        drain=DrainFlag.open(multiprocess_dir()),
        loop_lag=LoopLag(settings.overload.lag_probe_interval_seconds),
    )  # fmt: skip
    # Static routes: a response sent before routing (a declared body too large) is counted
    # under its path when that is one of them.
    route_labels = RouteLabels(PREDICTION_ROUTES)
    install_error_handlers(
        app, card.contract.names, route_labels, metrics.count_validation_failures
    )
    # Routes go on the app's own router, the predictions first: an included router is one more
    # layer of matching on every request.
    add_prediction_routes(app.router, state, schemas, drift.recorder, metrics, tracer_ref, settings)
    add_drift_routes(app.router, drift.report)
    add_operations_routes(app.router, metrics, [DriftCollector(drift)])
    # Middleware added last runs first: telemetry sees every response, the 413s included.
    app.add_middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        discard_bytes=settings.body_discard_bytes,
        discard_seconds=settings.body_discard_seconds,
        on_rejected=metrics.count_validation_failures,
        routes=route_labels,
    )
    # Inside telemetry: a shed request that gets this far is timed and counted like any other.
    state.shedding = _shedding(state, metrics)
    app.add_middleware(
        Admission, shedding=state.shedding, deadline_s=settings.overload.request_deadline_seconds
    )
    request_log = None
    if settings.log.request_lines:
        request_log = state.request_log = RequestLog(
            settings.log.sample_ratio, settings.latency_slo_seconds, settings.log.level,
            settings.log.format, settings.log.flush_seconds, fast_paths,
        )  # fmt: skip
    app.add_middleware(
        RequestTelemetryMiddleware,
        routes=route_labels,
        metrics=metrics if settings.metrics_enabled else None,
        tracer_ref=tracer_ref,
        request_log=request_log,
    )
    app.add_middleware(CloseConnectionsWhileDraining, drain=state.drain)
    if settings.server.worker_pid_header:
        app.add_middleware(WorkerPidHeader)
    split_ports(app, settings.server.admin_port, settings.server.public_docs)
    return app
