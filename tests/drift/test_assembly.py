"""assemble_drift: every part of drift from the card, the profile, the drift settings and the
directory, wired to each other: what the recorder counts is what the report, the monitor and
the collector read; switched off, nothing records and nothing runs."""

import os
from pathlib import Path
from typing import Any

from app.drift.assembly import Drift, assemble_drift
from app.drift.store import MemoryCounts, SharedCounts
from app.model.card import ModelCard
from app.model.predictor import Predictor
from app.model.profile import ReferenceProfile
from app.settings import DriftSettings
from examples.churn.generator import generate
from tests.conftest import BUNDLED_MODEL_DIR

CARD = ModelCard.load(BUNDLED_MODEL_DIR / "card.json")
PROFILE = ReferenceProfile.load(BUNDLED_MODEL_DIR / "reference_profile.json", CARD.contract)


def send(drift: Drift, predictor: Predictor, rows: int, seed: int) -> None:
    assert drift.recorder is not None
    matrix = predictor.encode(list(generate(rows, seed=seed).records()))
    drift.recorder.record(matrix, predictor.predict_matrix(matrix))


def since_start(drift: Drift) -> dict[str, Any]:
    section: dict[str, Any] = drift.report().as_dict()["since_start"]
    return section


def test_in_one_process_the_counts_are_in_memory_and_every_part_reads_them(
    predictor: Predictor,
) -> None:
    settings = DriftSettings(windows_seconds=[30.0, 300.0], interval_seconds=2.0, min_samples=5)
    drift = assemble_drift(CARD, PROFILE, settings, None)
    assert isinstance(drift.counts, MemoryCounts)
    assert drift.recorder is not None
    assert drift.recorder.store is drift.counts
    assert drift.monitor is not None
    assert drift.monitor.directory is None
    assert drift.monitor.windows_s == [30.0, 300.0]
    assert drift.monitor.interval_s == 2.0
    assert drift.analysis.thresholds == settings.thresholds()
    assert drift.model_version == CARD.version

    send(drift, predictor, rows=1, seed=1)
    send(drift, predictor, rows=40, seed=2)
    section = since_start(drift)
    assert section["prediction"]["count"] == 41
    assert {f["count"] + f["missing"] for f in section["features"].values()} == {41}
    assert drift.published() is None
    assert drift.report().as_dict()["windows"] is None

    published = drift.monitor.tick()  # its snapshot is the same counts
    assert drift.published() == published
    body = drift.report().as_dict()
    assert set(body["windows"]) == {"30s", "300s"}
    assert body["windows"]["300s"]["prediction"]["count"] == 41
    assert body["interval_seconds"] == 2.0


def test_with_a_directory_each_worker_counts_in_its_own_file_and_the_leader_publishes_there(
    tmp_path: Path, predictor: Predictor
) -> None:
    drift = assemble_drift(CARD, PROFILE, DriftSettings(), tmp_path)
    assert isinstance(drift.counts, SharedCounts)
    send(drift, predictor, rows=3, seed=3)
    own = tmp_path / f"drift_{CARD.version}_{os.getpid()}.counts"
    assert sorted(tmp_path.iterdir()) == [own]
    assert own.stat().st_size == 8 * drift.analysis.binner.size
    assert drift.monitor is not None
    published = drift.monitor.tick()
    # Another worker of the pod: its own parts over the same directory read what this one wrote.
    other = assemble_drift(CARD, PROFILE, DriftSettings(), tmp_path)
    assert other.published() == published
    assert since_start(other)["prediction"]["count"] == 3


def test_switched_off_nothing_records_and_nothing_runs(tmp_path: Path) -> None:
    drift = assemble_drift(CARD, PROFILE, DriftSettings(enabled=False), tmp_path)
    assert drift.recorder is None
    assert drift.monitor is None
    assert drift.published() is None
    section = since_start(drift)
    assert section["prediction"]["count"] == 0
    assert section["features"]["age"]["status"] == "insufficient_data"
    assert list(tmp_path.iterdir()) == []
