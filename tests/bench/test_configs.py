"""Issue 29's rows are what the issue defines: "full telemetry" is every request's line, RED
metrics, drift and tracing parent-based at 0.1 of new traces, exported, on the compiled engine;
the bare reference with the same engine is bare's command line and environment, only its app
differing. The default run (`make bench`) has the service, issue 29's rows and the references;
the components' run has every row a component or an older issue's target needs."""

from __future__ import annotations

import pytest

from app.settings import Settings
from app.telemetry.tracing import ParentBasedRatio, default_sampler
from bench.breakdown import COMPONENTS, TARGETS
from bench.configs import (
    BARE,
    BARE_ENGINE,
    COMPILED,
    CONFIGS,
    ENGINE_DIR,
    FULL,
    component_rows,
    on_endpoint,
    select,
)


def test_the_full_row_runs_every_kind_of_telemetry_at_the_issues_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (row,) = (c for c in CONFIGS if c.name == FULL)
    for key in ("GLASSBOX_LOG_SAMPLE_RATIO", "GLASSBOX_METRICS_ENABLED", "GLASSBOX_DRIFT_ENABLED",
                "GLASSBOX_TRACING_ENABLED", "GLASSBOX_REQUEST_LOG_ENABLED"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    for key, value in row.env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.log.sample_ratio == 1.0
    assert settings.log.request_lines is True
    assert settings.metrics_enabled is True
    assert settings.drift.enabled is True
    assert settings.tracing.enabled is True
    sampler = default_sampler(dict(row.env))
    assert isinstance(sampler, ParentBasedRatio)
    assert sampler.new_traces.rate == 0.1
    assert row.otlp is True
    assert (row.engine, row.engine_artifact) == (COMPILED, True)
    assert settings.model_engine_dir == ENGINE_DIR
    assert row.workers == 1
    assert row.connections == (16, 64)


def test_the_bare_reference_with_the_engine_differs_from_bare_by_its_app_alone() -> None:
    assert BARE_ENGINE.gunicorn_args == BARE.gunicorn_args
    assert dict(BARE_ENGINE.env) == dict(BARE.env) == {"OMP_NUM_THREADS": "1"}
    assert BARE_ENGINE.app == f"bench.bare_engine_app:create_app({str(ENGINE_DIR)!r})"
    assert BARE.app == "bench.bare_app:create_app()"
    assert BARE_ENGINE.engine_artifact
    assert not BARE.engine_artifact
    assert not BARE_ENGINE.reference  # the rows are divided by bare, not by it


def test_the_tails_and_gate_rows_serve_single_rows_only_beside_bare() -> None:
    rows = on_endpoint("single", [BARE_ENGINE.name, FULL])
    assert [c.name for c in rows] == [BARE.name, BARE_ENGINE.name, FULL]
    assert {c.endpoints for c in rows} == {("single",)}


def test_the_default_run_is_the_shipped_service_issue_29s_rows_and_their_references() -> None:
    assert [c.name for c in select(None)] == [
        "bare", "bare-batch", "bare-engine", FULL, "service",
    ]  # fmt: skip


def test_the_components_run_serves_single_rows_at_16_connections_beside_bare() -> None:
    rows = component_rows()
    assert [c.name for c in rows] == [
        "bare", "service", "service-lightgbm", "no-fast-paths", "metrics-off", "telemetry-off",
        "metrics+logs", "full@0.1", "full@1.0", "everything@0.1", "drift-off",
    ]  # fmt: skip
    assert {c.endpoints for c in rows} == {("single",)}
    assert {c.connections for c in rows} == {(16,)}


def test_every_component_and_target_has_all_its_rows_in_one_run() -> None:
    default = {c.name for c in select(None)}
    components = {c.name for c in component_rows()}
    for component in COMPONENTS:
        names = {name for name, _ in component.terms}
        assert names <= components, component.name
    for target in TARGETS:
        pair = {target.config, target.versus}
        assert pair <= default or pair <= components, target.text
