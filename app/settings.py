"""Every setting of the service, read from the environment once, typed and validated.

``OTEL_*`` and ``PROMETHEUS_MULTIPROC_DIR`` are not here: those libraries read them themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _cores() -> int:
    return len(os.sched_getaffinity(0))


class Settings(BaseSettings):
    """Service settings. Names are ``GLASSBOX_<FIELD>`` except the three conventional
    server variables ``HOST``, ``PORT`` and ``WEB_CONCURRENCY``."""

    model_config = SettingsConfigDict(env_prefix="GLASSBOX_", frozen=True, extra="ignore")

    host: str = Field("0.0.0.0", validation_alias=AliasChoices("HOST", "GLASSBOX_HOST"))
    port: int = Field(8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "GLASSBOX_PORT"))
    web_concurrency: PositiveInt = Field(
        default_factory=_cores,
        validation_alias=AliasChoices("WEB_CONCURRENCY", "GLASSBOX_WEB_CONCURRENCY"),
    )

    model_dir: Path = Path("models/churn")
    model_threads: PositiveInt = 1
    max_batch_rows: PositiveInt = 1000
    max_body_bytes: PositiveInt = 4 * 1024 * 1024
    # Batches of at least this many rows are predicted on a worker thread, off the event loop.
    threadpool_min_rows: PositiveInt = 64
    # Once the worker has loaded everything, its objects leave the garbage collector's scans
    # (gc.freeze): no full-collection pauses over start-up's ~120k long-lived objects.
    gc_freeze: bool = True
    metrics_enabled: bool = True
    drift_enabled: bool = True
    # Windowed drift: computed every interval by one worker per pod, over each window.
    drift_interval_seconds: float = Field(10.0, gt=0, le=3600)
    drift_windows_seconds: list[float] = Field(default_factory=lambda: [900.0, 3600.0])
    drift_min_samples: PositiveInt = 1000
    drift_psi_warning: float = Field(0.1, gt=0)
    drift_psi_drift: float = Field(0.25, gt=0)
    drift_js_warning: float = Field(0.1, gt=0, le=1)
    drift_js_drift: float = Field(0.2, gt=0, le=1)
    drift_missing_warning: float = Field(0.05, gt=0, le=1)
    drift_missing_drift: float = Field(0.15, gt=0, le=1)
    # Bound on stopping the drift loop at shutdown, even mid-computation.
    drift_stop_timeout_seconds: float = Field(1.0, ge=0, le=60)
    tracing_enabled: bool = True
    # Sampled spans not yet exported, per worker, beyond which new ones are dropped and counted.
    traces_max_pending: PositiveInt = 2048
    # Bound on flushing spans at shutdown; what is not exported by then is counted as dropped.
    traces_flush_timeout_seconds: float = Field(3.0, ge=0, le=60)
    request_log_enabled: bool = True
    # Share of successful, fast request lines written; errors and slow requests are always kept.
    log_sample_ratio: float = Field(1.0, ge=0, le=1)
    log_format: Literal["auto", "json", "console"] = "auto"
    # Request lines are buffered and written at most this long after (0: one write per line).
    # Error lines and shutdown flush at once. JSON mode only.
    log_flush_seconds: float = Field(0.1, ge=0, le=10)
    # The latency SLO threshold: an exact bucket boundary of the request latency histogram.
    latency_slo_seconds: float = Field(0.1, gt=0, le=60)
    environment: str = "dev"
    # From the Kubernetes downward API, for the trace resource.
    pod_name: str | None = Field(
        None, validation_alias=AliasChoices("POD_NAME", "GLASSBOX_POD_NAME")
    )
    pod_namespace: str | None = Field(
        None, validation_alias=AliasChoices("POD_NAMESPACE", "GLASSBOX_POD_NAMESPACE")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if not self.drift_windows_seconds or min(self.drift_windows_seconds) <= 0:
            raise ValueError("GLASSBOX_DRIFT_WINDOWS_SECONDS needs at least one positive window")
        if self.drift_psi_warning >= self.drift_psi_drift:
            raise ValueError("GLASSBOX_DRIFT_PSI_WARNING must be below GLASSBOX_DRIFT_PSI_DRIFT")
        if self.drift_js_warning >= self.drift_js_drift:
            raise ValueError("GLASSBOX_DRIFT_JS_WARNING must be below GLASSBOX_DRIFT_JS_DRIFT")
        if self.drift_missing_warning >= self.drift_missing_drift:
            raise ValueError(
                "GLASSBOX_DRIFT_MISSING_WARNING must be below GLASSBOX_DRIFT_MISSING_DRIFT"
            )
        return self
