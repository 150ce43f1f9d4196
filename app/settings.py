"""Every setting of the service, read from the environment once, typed and validated.

One root, :class:`Settings`, with a group per part (server, drift, tracing, logs). Each group
reads its own variables, under the names the README's configuration table lists, and holds the
only copy of its defaults: the rest of the code takes its values from here.

``OTEL_*`` and ``PROMETHEUS_MULTIPROC_DIR`` are not here: those libraries read them themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    DirectoryPath,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.cpu_limit import read_cpu_limit
from app.drift.status import Thresholds
from app.fast_paths import parse_selection

# Sub-millisecond to ten seconds. The latency SLO threshold is added as an exact boundary.
DEFAULT_LATENCY_BUCKETS_SECONDS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


# Of a worker's graceful timeout, what stays reserved after the bounded shutdown steps: the
# request log's last flush and the process's exit.
SHUTDOWN_MARGIN_SECONDS = 0.5


def _named(*names: str) -> Any:
    """A field read from these variables (the first is the documented one); built by its
    field name in code."""
    return AliasChoices(*names)


class _Group(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GLASSBOX_", frozen=True, extra="ignore", populate_by_name=True
    )


class ServerSettings(_Group):
    """The process: what gunicorn binds and how many workers it runs."""

    host: str = Field("0.0.0.0", validation_alias=_named("HOST", "GLASSBOX_HOST", "host"))
    port: int = Field(
        8000, ge=1, le=65535, validation_alias=_named("PORT", "GLASSBOX_PORT", "port")
    )
    # A second port on the same host, for /metrics and /drift only (README: Metrics); unset,
    # one port serves everything.
    admin_port: int | None = Field(None, ge=1, le=65535)
    # /docs, /redoc and /openapi.json on the public port (false: on the admin port only, and
    # without one not at all).
    public_docs: bool = True
    # Unset: Settings.workers, from the CPUs the pod may use (app/cpu_limit.py).
    web_concurrency: PositiveInt | None = Field(
        None,
        validation_alias=_named("WEB_CONCURRENCY", "GLASSBOX_WEB_CONCURRENCY", "web_concurrency"),
    )
    # Where each worker's heartbeat file goes (gunicorn's worker_tmp_dir); unset: the system's
    # temporary directory. On a read-only root filesystem: a mounted volume.
    worker_tmp_dir: DirectoryPath | None = None
    # After SIGTERM (and the drain window), how long gunicorn lets its workers finish before
    # killing them (gunicorn takes whole seconds).
    graceful_timeout_seconds: PositiveInt = 20
    # After SIGTERM, how long the pod keeps serving (readiness failing, listener open) before the
    # graceful stop: covers Kubernetes' endpoint propagation (README: Shutdown and rollouts).
    drain_seconds: float = Field(5.0, ge=0, le=300)
    # Every response names the worker that served it (x-worker-pid): for tests and debugging.
    worker_pid_header: bool = False
    # Once the worker has loaded everything, its objects leave the garbage collector's scans
    # (gc.freeze): no full-collection pauses over start-up's ~120k long-lived objects.
    gc_freeze: bool = True
    # What one connection may cost a worker (app/http_protocol.py): a request's line and headers
    # together, their count, how long they may take to arrive from their first bytes, and the
    # connections a worker holds at once.
    max_header_bytes: PositiveInt = 32 * 1024
    max_headers: PositiveInt = 100
    header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    max_connections: PositiveInt = 1000

    @model_validator(mode="after")
    def _ports(self) -> ServerSettings:
        if self.admin_port is not None and self.admin_port == self.port:
            raise ValueError("GLASSBOX_ADMIN_PORT must differ from PORT")
        return self


class DriftSettings(_Group):
    """Windowed drift: computed every interval by one worker per pod, over each window."""

    model_config = SettingsConfigDict(env_prefix="GLASSBOX_DRIFT_")

    enabled: bool = True
    interval_seconds: float = Field(10.0, gt=0, le=3600)
    windows_seconds: list[float] = Field(default_factory=lambda: [900.0, 3600.0])
    # Defaults: PSI 0.1 / 0.25 (the usual "watch" / "act" rule of thumb); JS distance 0.1 / 0.2;
    # missing rate moved by 0.05 / 0.15; 1000 rows before any verdict (stationary windows of
    # that size flag well under 1 % of features: tests/drift/test_detection.py).
    min_samples: PositiveInt = 1000
    psi_warning: float = Field(0.1, gt=0)
    psi_drift: float = Field(0.25, gt=0)
    js_warning: float = Field(0.1, gt=0, le=1)
    js_drift: float = Field(0.2, gt=0, le=1)
    missing_warning: float = Field(0.05, gt=0, le=1)
    missing_drift: float = Field(0.15, gt=0, le=1)
    # Bound on stopping the drift loop at shutdown, even mid-computation.
    stop_timeout_seconds: float = Field(1.0, ge=0, le=60)
    # The computation's thread sleeps this long before each window and before publishing,
    # handing the worker's core back to the event loop (README: Performance).
    step_pause_seconds: float = Field(0.002, ge=0, le=1)

    @model_validator(mode="after")
    def _coherent(self) -> DriftSettings:
        if not self.windows_seconds or min(self.windows_seconds) <= 0:
            raise ValueError("GLASSBOX_DRIFT_WINDOWS_SECONDS needs at least one positive window")
        for statistic in ("psi", "js", "missing"):
            if getattr(self, f"{statistic}_warning") >= getattr(self, f"{statistic}_drift"):
                upper = statistic.upper()
                raise ValueError(
                    f"GLASSBOX_DRIFT_{upper}_WARNING must be below GLASSBOX_DRIFT_{upper}_DRIFT"
                )
        return self

    def thresholds(self) -> Thresholds:
        return Thresholds(
            psi_warning=self.psi_warning, psi_drift=self.psi_drift,
            js_warning=self.js_warning, js_drift=self.js_drift,
            missing_warning=self.missing_warning, missing_drift=self.missing_drift,
            min_samples=self.min_samples,
        )  # fmt: skip


class TracingSettings(_Group):
    enabled: bool = Field(True, validation_alias=_named("GLASSBOX_TRACING_ENABLED", "enabled"))
    # Sampled spans not yet exported, per worker, beyond which new ones are dropped and counted.
    max_pending: PositiveInt = Field(
        2048, validation_alias=_named("GLASSBOX_TRACES_MAX_PENDING", "max_pending")
    )
    # Bound on flushing spans at shutdown; what is not exported by then is counted as dropped.
    flush_timeout_seconds: float = Field(
        3.0, ge=0, le=60,
        validation_alias=_named("GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS", "flush_timeout_seconds"),
    )  # fmt: skip


class LogSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="GLASSBOX_LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = "auto"
    request_lines: bool = Field(
        True, validation_alias=_named("GLASSBOX_REQUEST_LOG_ENABLED", "request_lines")
    )
    # Share of successful, fast request lines written; errors and slow requests are always kept.
    sample_ratio: float = Field(1.0, ge=0, le=1)
    # Request lines are buffered and written at most this long after (0: one write per line).
    # 5xx lines and shutdown flush at once. JSON mode only.
    flush_seconds: float = Field(0.1, ge=0, le=10)


class OverloadSettings(_Group):
    """Admission control, deadlines and batch chunking (README: Overload)."""

    # Event-loop lag beyond which /predict and /predict/batch are answered with a fast 503: above
    # what neighbours cause at one connection, low enough that what a spike admits is answered
    # well inside the latency SLO (README: Overload, measured by bench/overload.py).
    shed_lag_seconds: float = Field(0.025, gt=0, le=10)
    # How often the lag probe wakes: each wake is one measurement of the loop's queueing delay.
    lag_probe_interval_seconds: float = Field(0.01, gt=0, le=1)
    # The Retry-After of a shed 503, whole seconds.
    shed_retry_after_seconds: PositiveInt = 1
    # From when the app sees a prediction request: past it, its work stops with a 504.
    request_deadline_seconds: float = Field(5.0, gt=0, le=300)
    # A batch is predicted in chunks of at most this many rows; the deadline and the client's
    # connection are checked between chunks.
    batch_chunk_rows: PositiveInt = Field(100, le=10_000)
    # Tests only: a pause before each chunk of a batch predicted on a thread, to make it slow.
    test_chunk_delay_seconds: float = Field(0.0, ge=0, le=10)


class Settings(_Group):
    """Service settings. Names are ``GLASSBOX_<FIELD>`` except the three conventional
    server variables ``HOST``, ``PORT`` and ``WEB_CONCURRENCY`` and the pod's own."""

    model_dir: Path = Path("models/churn")
    model_threads: PositiveInt = 1
    # The engine computing the probabilities (README: Model engine): "auto" is the compiled
    # engine when model_engine_dir holds a verified artifact of this model file for this host,
    # else LightGBM; "lightgbm" is LightGBM always.
    model_engine: Literal["auto", "lightgbm"] = "auto"
    # Where `python -m app.model.engine_build` wrote the compiled engines; unset: LightGBM.
    model_engine_dir: Path | None = None
    max_batch_rows: PositiveInt = 1000
    max_body_bytes: PositiveInt = 4 * 1024 * 1024
    # A refused body is read and dropped up to this much in all, for at most this long, before
    # the connection closes: a client still sending then reads the 413 instead of a reset.
    body_discard_bytes: NonNegativeInt = 16 * 1024 * 1024
    body_discard_seconds: float = Field(2.0, ge=0, le=60)
    # Batches of at least this many rows are predicted on a worker thread, off the event loop.
    threadpool_min_rows: PositiveInt = 64
    metrics_enabled: bool = True
    # The latency SLO threshold: an exact bucket boundary of the request latency histogram.
    latency_slo_seconds: float = Field(0.1, gt=0, le=60)
    latency_buckets_seconds: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_SECONDS
    environment: str = "dev"
    # The private-API fast paths (app/fast_paths): "all", "none" or a comma list of names.
    fast_paths: str = "all"
    # From the Kubernetes downward API, for the trace resource.
    pod_name: str | None = Field(None, validation_alias=_named("POD_NAME", "GLASSBOX_POD_NAME"))
    pod_namespace: str | None = Field(
        None, validation_alias=_named("POD_NAMESPACE", "GLASSBOX_POD_NAMESPACE")
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    overload: OverloadSettings = Field(default_factory=OverloadSettings)

    @model_validator(mode="after")
    def _shutdown_fits(self) -> Settings:
        if self.server.graceful_timeout_seconds <= self.shutdown_work_seconds:
            raise ValueError(
                f"GLASSBOX_GRACEFUL_TIMEOUT_SECONDS ({self.server.graceful_timeout_seconds}) must "
                f"exceed the shutdown's own work ({self.shutdown_work_seconds:g} s: "
                "GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS + GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS + "
                f"{SHUTDOWN_MARGIN_SECONDS:g} s), or in-flight requests get no time at all"
            )
        return self

    @property
    def workers(self) -> int:
        """gunicorn's worker count: ``WEB_CONCURRENCY``, else as many workers of
        ``model_threads`` threads as the pod's CPUs hold (app/cpu_limit.py), at least one."""
        if self.server.web_concurrency is not None:
            return self.server.web_concurrency
        return read_cpu_limit().workers(self.model_threads)

    @property
    def shutdown_work_seconds(self) -> float:
        """The most a worker's shutdown takes once its connections are done: the drift loop's
        stop, the span flush (both bounded) and a margin for the log flush and the exit."""
        return (
            self.drift.stop_timeout_seconds
            + self.tracing.flush_timeout_seconds
            + SHUTDOWN_MARGIN_SECONDS
        )

    @field_validator("fast_paths")
    @classmethod
    def _known_fast_paths(cls, text: str) -> str:
        parse_selection(text)
        return text

    @field_validator("latency_buckets_seconds")
    @classmethod
    def _increasing(cls, buckets: tuple[float, ...]) -> tuple[float, ...]:
        if not buckets or any(b <= 0 for b in buckets) or list(buckets) != sorted(set(buckets)):
            raise ValueError("GLASSBOX_LATENCY_BUCKETS_SECONDS: positive, strictly increasing")
        return buckets

    @property
    def request_latency_buckets_seconds(self) -> tuple[float, ...]:
        """The latency histogram's boundaries: the configured ones and the SLO threshold."""
        return tuple(sorted({*self.latency_buckets_seconds, self.latency_slo_seconds}))
