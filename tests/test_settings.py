"""Settings: read from the environment once, typed, and refused when invalid."""

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
    assert settings.web_concurrency >= 1
    assert settings.model_dir == Path("models/churn")
    assert settings.model_threads == 1
    assert settings.max_batch_rows == 1000


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
