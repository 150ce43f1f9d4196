"""GLASSBOX_FAST_PATHS: all, none or a list; an unknown name refuses to start and says which
are valid; a fast path that finds its private name missing is off, said once."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from pydantic import ValidationError
from structlog.testing import capture_logs

from app.api.admission import SHEDDING_STATE_KEY
from app.fast_paths import NAMES, FastPaths, parse_selection, without
from app.fast_paths.metric_writers import DirectHistogramWriter
from app.fast_paths.otlp_export import LeanOTLPSpanExporter
from app.fast_paths.request_line import DirectRender
from app.fast_paths.server_spans import ServerSpans
from app.main import create_app
from app.settings import Settings
from app.telemetry.tracing import setup_tracing
from tests.conftest import BUNDLED_MODEL_DIR

# Written out here, not read from the package: a fast path added or renamed shows up here.
EXPECTED_NAMES = {
    "histogram_writers", "otlp_export", "early_sampling", "ratio_rule", "request_line",
    "protocol_shed",
}  # fmt: skip


def test_the_fast_paths_are_the_ones_documented() -> None:
    assert set(NAMES) == EXPECTED_NAMES
    assert len(NAMES) == len(EXPECTED_NAMES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("all", EXPECTED_NAMES), (" ALL ", EXPECTED_NAMES), ("none", set()), ("", set()),
     ("request_line", {"request_line"}),
     ("otlp_export, ratio_rule,", {"otlp_export", "ratio_rule"})],
)  # fmt: skip
def test_the_setting_selects(text: str, expected: set[str]) -> None:
    assert parse_selection(text) == expected


def test_without_a_name_is_every_other_one() -> None:
    assert parse_selection(without("otlp_export")) == EXPECTED_NAMES - {"otlp_export"}
    assert without(*NAMES) == "none"


@pytest.mark.parametrize("text", ["fast", "all,none", "request_line,nope", "cached_pid"])
def test_an_unknown_name_refuses_to_start_naming_the_valid_ones(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("GLASSBOX_FAST_PATHS", text)
    with pytest.raises(ValidationError, match="GLASSBOX_FAST_PATHS") as refused:
        Settings()
    message = str(refused.value)
    for name in ("'all'", "'none'", *EXPECTED_NAMES):
        assert name in message


def test_the_setting_reaches_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_FAST_PATHS", "histogram_writers,request_line")
    paths = FastPaths.from_setting(Settings().fast_paths)
    assert {n for n in EXPECTED_NAMES if paths.on(n)} == {"histogram_writers", "request_line"}


def test_a_fast_path_missing_a_private_name_is_off_and_said_once() -> None:
    paths = FastPaths()

    def fast() -> str:
        return str(object().__moved__)  # type: ignore[attr-defined]

    with capture_logs() as logs:
        got = [paths.choose("otlp_export", fast, lambda: "public") for _ in range(3)]
    assert got == ["public"] * 3
    assert not paths.on("otlp_export")
    assert paths.on("request_line"), "the others stay on"
    assert logs == [
        {"event": "fast path unavailable: using the public API", "fast_path": "otlp_export",
         "missing": "__moved__", "log_level": "warning"},
    ]  # fmt: skip


def test_a_fast_path_switched_off_is_not_tried() -> None:
    def fast() -> str:
        raise AssertionError("tried")

    assert FastPaths.from_setting("none").choose("request_line", fast, lambda: "public") == "public"


@pytest.mark.parametrize("selection", ["all", "none"])
def test_the_app_is_built_on_the_paths_selected(multiprocess_dir: Path, selection: str) -> None:
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, fast_paths=selection, log={"format": "json"})  # type: ignore[arg-type]
    app = create_app(settings)
    state = app.state.service
    with TestClient(app) as client:
        fast = selection == "all"
        # The protocol finds the shedding policy in the lifespan's state, and refuses shed
        # requests itself only with protocol_shed.
        assert client.app_state[SHEDDING_STATE_KEY].in_protocol is fast
        assert isinstance(state.metrics._probability, DirectHistogramWriter) is fast
        assert isinstance(state.request_log._render, DirectRender) is fast
        assert isinstance(state.tracer_ref.server_spans, ServerSpans) is fast
        assert state.fast_paths.enabled == (set(NAMES) if fast else set())


@pytest.mark.parametrize("selection", ["all", "none"])
def test_tracing_exports_through_the_exporter_selected(
    monkeypatch: pytest.MonkeyPatch, selection: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # never reached
    paths = FastPaths.from_setting(selection)
    tracing = setup_tracing({}, 10, lambda n: None, lambda reason, n: None, fast_paths=paths)
    assert tracing is not None
    assert tracing.processor is not None
    try:
        exporter = tracing.processor.exporter.inner
        assert type(exporter) is (LeanOTLPSpanExporter if selection == "all" else OTLPSpanExporter)
    finally:
        tracing.shutdown(1.0)
