"""Settings: read from the environment once, typed, and refused when invalid."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "HOST", "WEB_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.port == 8000
    assert settings.host == "0.0.0.0"
    assert settings.web_concurrency == len(os.sched_getaffinity(0))  # one per available core
    assert settings.model_dir == Path("models/churn")
    assert settings.model_threads == 1
    assert settings.max_batch_rows == 1000


@contextmanager
def pinned_to(cores: set[int]) -> Iterator[None]:
    """Run the calling thread on these cores only (Settings() reads the affinity of its caller)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


AVAILABLE = sorted(os.sched_getaffinity(0))


@pytest.mark.parametrize("cores", range(1, len(AVAILABLE) + 1))
def test_web_concurrency_defaults_to_one_worker_per_available_core(
    monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """The README's default: one per available core, the cores the process may run on (its
    CPU affinity, as under `taskset` or a cgroup cpuset), not the machine's count."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GLASSBOX_WEB_CONCURRENCY", raising=False)
    with pinned_to(set(AVAILABLE[:cores])):
        assert Settings().web_concurrency == cores
        monkeypatch.setenv("WEB_CONCURRENCY", "5")
        assert Settings().web_concurrency == 5  # the variable wins over the default


def test_conventional_server_variables_and_prefixed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GLASSBOX_MAX_BATCH_ROWS", "20")
    monkeypatch.setenv("GLASSBOX_MODEL_DIR", "/srv/model")
    settings = Settings()
    assert (settings.port, settings.web_concurrency, settings.max_batch_rows) == (9001, 3, 20)
    assert settings.model_dir == Path("/srv/model")


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "0"), ("PORT", "http"), ("WEB_CONCURRENCY", "0"), ("GLASSBOX_MAX_BATCH_ROWS", "-1"),
     ("GLASSBOX_LOG_LEVEL", "LOUD")],
)  # fmt: skip
def test_invalid_values_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()
