"""The drift report, typed until serialized: the /drift body keeps the keys, their order and
their types clients have always seen; a published report reads back as it was written; counts
of another layout are a bug, refused."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.drift.assembly import assemble_drift
from app.drift.binning import Binner
from app.drift.monitor import DriftMonitor
from app.drift.report import DriftAnalysis, PublishedReport
from app.model.card import ModelCard
from app.model.profile import ReferenceProfile
from app.settings import DriftSettings
from tests.conftest import BUNDLED_MODEL_DIR

CARD = ModelCard.load(BUNDLED_MODEL_DIR / "card.json")
PROFILE = ReferenceProfile.load(BUNDLED_MODEL_DIR / "reference_profile.json", CARD.contract)
ANALYSIS = DriftAnalysis(Binner(CARD.contract, PROFILE), DriftSettings().thresholds())

# The body's shape as the service answered it before the report was typed (2026-12-01).
BEFORE_ANY_REPORT = ["computed_at", "leader_pid", "windows", "interval_seconds", "thresholds",
                     "model_version", "since_start"]  # fmt: skip
WITH_A_REPORT = ["model_version", "computed_at", "computed_at_seconds", "leader_pid",
                 "interval_seconds", "thresholds", "windows", "since_start"]  # fmt: skip
WINDOW = ["seconds", "covered_seconds", "features", "prediction"]
ENTRY = ["count", "missing", "psi", "js_distance", "chi_square", "missing_rate",
         "missing_rate_difference", "bins", "status"]  # fmt: skip
THRESHOLDS = ["psi_warning", "psi_drift", "js_warning", "js_drift", "missing_warning",
              "missing_drift", "min_samples"]  # fmt: skip


def counts(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 50, ANALYSIS.size)


def check_section(section: dict[str, Any], observed: bool) -> None:
    assert list(section) == ["features", "prediction"]
    assert list(section["features"]) == CARD.contract.names
    for entry in [*section["features"].values(), section["prediction"]]:
        assert list(entry) == ENTRY
        assert isinstance(entry["count"], int)
        assert isinstance(entry["missing"], int)
        assert isinstance(entry["psi"], float) if observed else entry["psi"] is None
        assert isinstance(entry["status"], str)
        assert all(list(b) == ["bin", "reference", "observed"] for b in entry["bins"])
    if observed:
        assert list(section["features"]["plan"]["chi_square"]) == ["statistic", "p_value"]
    assert section["features"]["age"]["chi_square"] is None


def test_the_body_before_any_report_has_the_shape_clients_know() -> None:
    drift = assemble_drift(CARD, PROFILE, DriftSettings(), None)
    body = drift.report().as_dict()
    assert list(body) == BEFORE_ANY_REPORT
    assert (body["computed_at"], body["leader_pid"], body["windows"]) == (None, None, None)
    assert list(body["thresholds"]) == THRESHOLDS
    assert body["interval_seconds"] == 10.0
    assert body["model_version"] == CARD.version


def test_the_body_with_a_report_has_the_shape_clients_know(tmp_path: Path) -> None:
    drift = assemble_drift(CARD, PROFILE, DriftSettings(), tmp_path)
    monitor = drift.monitor
    assert monitor is not None
    monitor.snapshot = lambda: counts(1)
    monitor.tick()
    body = drift.report().as_dict()
    assert list(body) == WITH_A_REPORT
    assert isinstance(body["computed_at"], str)
    assert body["computed_at"].endswith("Z")
    assert isinstance(body["computed_at_seconds"], float)
    assert isinstance(body["leader_pid"], int)
    assert list(body["thresholds"]) == THRESHOLDS
    assert list(body["windows"]) == ["900s", "3600s"]
    for window in body["windows"].values():
        assert list(window) == WINDOW
        assert isinstance(window["seconds"], float)
        check_section({k: window[k] for k in ("features", "prediction")}, observed=True)
    check_section(body["since_start"], observed=False)  # nothing recorded: no statistics


def test_a_published_report_reads_back_as_it_was_written(tmp_path: Path) -> None:
    monitor = DriftMonitor(
        analysis=ANALYSIS, snapshot=lambda: counts(2), windows_s=[60.0], interval_s=1.0,
        directory=tmp_path, model_version=CARD.version,
    )  # fmt: skip
    written = monitor.tick()
    read = PublishedReport.model_validate_json((tmp_path / "drift-report.json").read_bytes())
    assert read == written
    assert monitor.report() == written


def test_counts_of_another_layout_are_refused() -> None:
    """No silent zeros: a count vector of the wrong size is a bug upstream."""
    with pytest.raises(ValueError, match="for a layout of"):
        ANALYSIS.section(counts(3)[:-1])
    with pytest.raises(ValueError, match="for a layout of"):
        ANALYSIS.section(np.zeros(ANALYSIS.binner.prediction.start, dtype=np.int64))
