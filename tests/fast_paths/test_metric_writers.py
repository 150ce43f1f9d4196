"""Histogram writers: each way (the fast path's and the public one) leaves exactly the samples
the library's own ``observe`` leaves; a child whose private values have moved is written
through the public API, with one warning."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics import MetricWrapperBase
from structlog.testing import capture_logs

from app.fast_paths import FastPaths
from app.fast_paths.metric_writers import (
    HISTOGRAM_WRITERS,
    DirectHistogramWriter,
    PublicHistogramWriter,
    histogram_writer,
)
from app.main import create_app
from app.settings import Settings
from tests.conftest import BUNDLED_MODEL_DIR
from tests.support.metrics import value

OK_ROW = {"age": 30, "signup_month": "June"}
SELECTIONS = ["all", "none"]


def samples_of(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize("mode", ["single-process", "multiprocess"])
@pytest.mark.parametrize("method", ["observe", "observe_many"])
def test_a_histogram_writer_observes_exactly_as_the_library(
    mode: str, method: str, selection: str, request: pytest.FixtureRequest
) -> None:
    if mode == "multiprocess":
        request.getfixturevalue("multiprocess_dir")
    edges = (0.1, 0.25, 0.5, 0.75)
    values = np.array([0.0, 0.1, 0.1000001, 0.3, 0.5, 0.9, 1.0, 0.25, 0.05, 0.75, 7.0, -1.0])
    one, ours = CollectorRegistry(), CollectorRegistry()
    by_one = Histogram("h_one", "h", buckets=edges, registry=one)
    child = Histogram("h_ours", "h", buckets=edges, registry=ours)
    writer = histogram_writer(FastPaths.from_setting(selection), child)
    expected = DirectHistogramWriter if selection == "all" else PublicHistogramWriter
    assert type(writer) is expected
    for v in values:
        by_one.observe(float(v))
    if method == "observe":
        for v in values:
            writer.observe(float(v))
    else:
        writer.observe_many(values)
    got = {name.replace("h_ours", "h_one"): v for name, v in samples_of(ours).items()}
    want = samples_of(one)
    # Buckets and count exactly; the sum up to float rounding (it is added in another order).
    assert got.pop("h_one_sum[]") == pytest.approx(want.pop("h_one_sum[]"), rel=1e-12)
    assert got == want


def test_nan_is_summed_and_in_no_bucket_as_observe_has_it() -> None:
    one, ours = CollectorRegistry(), CollectorRegistry()
    Histogram("h", "h", buckets=(1.0,), registry=one).observe(float("nan"))
    histogram_writer(FastPaths(), Histogram("h", "h", buckets=(1.0,), registry=ours)).observe(
        float("nan")
    )
    assert str(samples_of(ours)) == str(samples_of(one))


class Moved:
    """A metric child as a library release that renamed ``hidden`` would give it: the public
    methods still work, the private name is gone."""

    def __init__(self, child: Any, hidden: str) -> None:
        self._child = child
        self._hidden = hidden

    def __getattr__(self, name: str) -> Any:
        if name == self._hidden:
            raise AttributeError(name, name=name, obj=self)
        return getattr(self._child, name)


@pytest.mark.parametrize("hidden", ["_upper_bounds", "_buckets", "_sum"])
def test_a_histogram_child_without_its_private_values_is_observed_publicly(hidden: str) -> None:
    registry = CollectorRegistry()
    child = Histogram("h", "h", buckets=(0.5,), registry=registry)
    paths = FastPaths()
    with capture_logs() as logs:
        writers = [histogram_writer(paths, Moved(child, hidden)) for _ in range(3)]
        writers.append(histogram_writer(paths, child))  # off for the process from now on
    assert all(type(w) is PublicHistogramWriter for w in writers)
    writers[0].observe(0.2)
    writers[1].observe_many(np.array([0.7, 0.1]))
    assert registry.get_sample_value("h_count") == 3
    assert registry.get_sample_value("h_bucket", {"le": "0.5"}) == 2
    assert paths.fell_back == {HISTOGRAM_WRITERS: hidden}
    assert [(e["event"], e["fast_path"], e["missing"]) for e in logs] == [
        ("fast path unavailable: using the public API", HISTOGRAM_WRITERS, hidden)
    ]


PRIVATE_VALUES = ("_value", "_upper_bounds", "_buckets", "_sum")


def test_a_service_whose_metric_children_hid_their_values_starts_and_counts_exactly(
    multiprocess_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every labelled child the service makes hides the private values: the app starts, warns
    once, and its counts are exact."""
    labels = MetricWrapperBase.labels

    def moved_labels(self: MetricWrapperBase, *args: Any, **kwargs: Any) -> Any:
        child = labels(self, *args, **kwargs)
        for name in PRIVATE_VALUES:
            child = Moved(child, name)
        return child

    monkeypatch.setattr(MetricWrapperBase, "labels", moved_labels)
    settings = Settings(model_dir=BUNDLED_MODEL_DIR, fast_paths="all", log={"format": "json"})  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        for _ in range(3):
            assert c.post("/predict", json=OK_ROW).status_code == 200
        assert c.post("/predict/batch", json={"rows": [OK_ROW] * 4}).status_code == 200
        text = c.get("/metrics").text
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    warned = sorted((e["fast_path"], e["level"]) for e in logs if "fast_path" in e)
    assert warned == [(HISTOGRAM_WRITERS, "warning")]
    assert value(text, "glassbox_predictions_total") == 7
    assert value(text, "glassbox_prediction_probability_count") == 7
    assert value(text, "http_server_request_duration_seconds_count",
                 http_response_status_code="200") == 4  # fmt: skip
