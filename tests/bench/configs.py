"""What is benchmarked, as data: the endpoints and the server configurations.

A configuration is a name, how to start its gunicorn server (app, arguments, environment) and
which endpoints it serves. Later issues add a row to ``CONFIGS`` with one call, e.g.
``service("metrics off", "...", env={"GLASSBOX_METRICS": "false"})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# What the bare reference measured on the 2-core reference machine (AMD EPYC, 300-tree model),
# single row at 16 connections. A bare reference far below this is a bench bug, not a win.
BARE_EXPECTED_RPS_16 = 1950.0
BARE_EXPECTED_CPU_US = 470.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    rows: int


SINGLE = Endpoint("single", "/predict", 1)
BATCH = Endpoint("batch", "/predict/batch", 1000)
ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in (SINGLE, BATCH)}


@dataclass(frozen=True, slots=True)
class Config:
    """One server to benchmark. ``gunicorn_args`` come after the binary; the harness adds
    ``--workers 1 --no-control-socket --bind 127.0.0.1:<port>`` and ``app`` (when set)."""

    name: str
    description: str
    gunicorn_args: tuple[str, ...]
    ready_path: str
    endpoints: tuple[str, ...]
    app: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # A reference is what the other configurations of the same endpoint are divided by.
    reference: bool = False
    # Service configurations get a fresh PROMETHEUS_MULTIPROC_DIR.
    multiproc_dir: bool = False


def service(
    name: str,
    description: str,
    env: Mapping[str, str] | None = None,
    endpoints: tuple[str, ...] = (SINGLE.name, BATCH.name),
) -> Config:
    """The Glassbox service as `make run` starts it (gunicorn.conf.py), with env overrides."""
    return Config(
        name=name,
        description=description,
        gunicorn_args=("--config", "gunicorn.conf.py"),
        ready_path="/readyz",
        endpoints=endpoints,
        env=MappingProxyType({"WEB_CONCURRENCY": "1", **(env or {})}),
        multiproc_dir=True,
    )


# gunicorn's defaults (not ./gunicorn.conf.py) and uvicorn-worker's own worker class.
BARE_GUNICORN_ARGS: tuple[str, ...] = (
    "--config", "tests/bench/gunicorn_defaults.py", "-k", "uvicorn_worker.UvicornWorker",
)  # fmt: skip


def _bare(name: str, factory: str, endpoint: Endpoint) -> Config:
    return Config(
        name=name,
        description=f"fixed bare reference ({endpoint.path}): tests/bench/bare_app.py",
        gunicorn_args=BARE_GUNICORN_ARGS,
        app=f"tests.bench.bare_app:{factory}()",
        # FastAPI's own route: the bare app has exactly one route of its own.
        ready_path="/openapi.json",
        endpoints=(endpoint.name,),
        env=MappingProxyType({"OMP_NUM_THREADS": "1"}),
        reference=True,
    )


BARE = _bare("bare", "create_app", SINGLE)
BARE_BATCH = _bare("bare-batch", "create_batch_app", BATCH)

CONFIGS: tuple[Config, ...] = (
    BARE,
    BARE_BATCH,
    service("service", "the service as it stands (gunicorn.conf.py, 1 worker)"),
)


def reference_for(endpoint: str, configs: tuple[Config, ...] = CONFIGS) -> Config:
    (ref,) = (c for c in configs if c.reference and endpoint in c.endpoints)
    return ref


def select(only: list[str] | None, configs: tuple[Config, ...] = CONFIGS) -> tuple[Config, ...]:
    """The named configurations plus the references their endpoints are compared with."""
    if not only:
        return configs
    unknown = set(only) - {c.name for c in configs}
    if unknown:
        known = ", ".join(c.name for c in configs)
        raise SystemExit(f"unknown configuration(s) {sorted(unknown)}; known: {known}")
    wanted = {c.name for c in configs if c.name in only}
    for c in configs:
        if c.name in wanted:
            wanted |= {reference_for(e, configs).name for e in c.endpoints}
    return tuple(c for c in configs if c.name in wanted)
