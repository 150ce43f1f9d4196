"""Per-worker service state and the dependency that hands it to route handlers.

The prediction handlers take the state by closure instead: resolving one more dependency costs
~20 µs, which the hot path cannot spare (see routes.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from opentelemetry.sdk.trace.export import SpanExporter

from app.api.errors import ModelNotReadyError
from app.drain_flag import DrainFlag
from app.drift.monitor import DriftMonitor
from app.loop_lag import LoopLag
from app.model.card import ModelCard
from app.model.predictor import Predictor
from app.settings import Settings
from app.telemetry.logging import RequestLog
from app.telemetry.metrics import Metrics
from app.telemetry.tracing import TracerRef


@dataclass
class ServiceState:
    """What one worker holds. ``predictor`` is set by the lifespan once the model is loaded."""

    settings: Settings
    card: ModelCard
    metrics: Metrics
    tracer_ref: TracerRef
    span_exporter: SpanExporter | None = None
    drift_monitor: DriftMonitor | None = None
    request_log: RequestLog | None = None
    predictor: Predictor | None = None
    load_error: str | None = None
    # Set by the master on SIGTERM (shared by every worker); never set without a master.
    drain: DrainFlag = field(default_factory=DrainFlag)
    # Measured by a task the lifespan starts; admission reads it on every prediction request.
    loop_lag: LoopLag = field(default_factory=lambda: LoopLag(0.01))

    def ready_predictor(self) -> Predictor:
        """The loaded predictor; a 503 (through the error table) until there is one."""
        predictor = self.predictor
        if predictor is None:
            raise ModelNotReadyError
        return predictor


# async def, not def: FastAPI runs a plain-def dependency on the threadpool, a thread hop
# (~250 µs) on every request for what is an attribute lookup.
async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]
