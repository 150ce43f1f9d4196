"""The request line: rendered by the fast path and by the structlog chain, one event gives the
same line, key for key, value for value, and byte for byte."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.fast_paths import FastPaths
from app.fast_paths.request_line import ChainRender, DirectRender, request_line_renderer
from app.telemetry.logging import REQUEST_LOGGER, IsoTimestamp, configure_logging

NOW_NS = 1_795_000_000_123_456_789  # a fixed clock: both renderings stamp the same instant


def event() -> dict[str, Any]:
    """A request's fields as the middleware hands them over, with every kind of value a line
    holds (and one that is not JSON: both fall back to its repr)."""
    return {
        "logger": REQUEST_LOGGER, "method": "POST", "route": "/predict", "status": 200,
        "duration_ms": 1.814, "request_id": "83abc2fe9a51a2d1", "pid": 12774,
        "prediction_id": "01a2150404ad0cf0bfdb592000000000",
        "model_version": "churn-20261101-b498af08", "churn_probability": 0.13700000000000001,
        "rows": 3, "positives": 0, "note": "caf\u00e9 \u2603 \"quoted\"\n", "nan": float("nan"),
        "missing": None, "flag": True, "path": Path("/srv/model"),
        "trace_id": "af022847a7ad3d4dbf8d5ccdb1f43f85", "span_id": "065628927a0efe09",
    }  # fmt: skip


@pytest.mark.parametrize("level", ["info", "error"])
def test_one_event_renders_the_same_through_the_fast_path_and_the_chain(
    monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    configure_logging("INFO", "json")
    monkeypatch.setattr(time, "time_ns", lambda: NOW_NS)
    fast = DirectRender(IsoTimestamp())(event(), level)
    chain = ChainRender()(event(), level)
    parsed_fast, parsed_chain = json.loads(fast), json.loads(chain)
    assert list(parsed_fast) == list(parsed_chain), "the same keys in the same order"
    for key, value in parsed_chain.items():
        assert parsed_fast[key] == value, key
    stamped = datetime.fromtimestamp(NOW_NS // 1000 / 1e6, UTC)
    assert parsed_fast["ts"] == stamped.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (parsed_fast["event"], parsed_fast["level"]) == ("request", level)
    assert parsed_fast["path"] == repr(Path("/srv/model"))
    assert fast == chain, "byte for byte"
    assert fast.endswith(b"}\n")
    assert fast.count(b"\n") == 1


def test_the_switch_chooses_the_renderer() -> None:
    configure_logging("INFO", "json")
    assert isinstance(request_line_renderer(FastPaths(), IsoTimestamp()), DirectRender)
    none = FastPaths.from_setting("none")
    assert isinstance(request_line_renderer(none, IsoTimestamp()), ChainRender)
