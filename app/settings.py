"""Every setting of the service, read from the environment once, typed and validated.

``OTEL_*`` and ``PROMETHEUS_MULTIPROC_DIR`` are not here: those libraries read them themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, PositiveInt
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
    metrics_enabled: bool = True
    # The latency SLO threshold: an exact bucket boundary of the request latency histogram.
    latency_slo_seconds: float = Field(0.1, gt=0, le=60)
    environment: str = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
