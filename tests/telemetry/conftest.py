"""Real multiprocess mode in process: a temp PROMETHEUS_MULTIPROC_DIR and mmap-backed values."""

from pathlib import Path

import pytest
from prometheus_client import values


@pytest.fixture
def multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    # prometheus_client picks its value class when imported; switch it as a worker would have it.
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    return path
