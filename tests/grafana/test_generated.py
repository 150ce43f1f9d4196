"""The committed dashboards are what grafana/'s code writes today, for the Grafana version the
pinned grafana-foundation-sdk build targets."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from grafana import generate
from tests.support.dashboards import DASHBOARD_FILES, dashboards
from tests.support.processes import ROOT

# Grafana 11.6's dashboard schemaVersion (its migrations end at 41): what the 11.6 build of the
# SDK writes and what that Grafana loads without migrating.
GRAFANA_VERSION = "11.6"
SCHEMA_VERSION = 41


def test_the_committed_dashboards_are_what_the_code_generates() -> None:
    generated = generate.current()
    assert sorted(generated) == DASHBOARD_FILES, "a dashboard file no generator writes, or missing"
    assert len(generated) == 2
    for path, text in generated.items():
        assert path.read_text() == text, f"stale: {path}; run `make dashboards`"


def test_the_check_fails_on_a_stale_or_missing_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate, "DASHBOARDS", tmp_path)
    assert generate.main(["--check"]) == 1  # none written yet
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    edited = tmp_path / DASHBOARD_FILES[0].name
    edited.write_text(edited.read_text().replace('"title"', '"Title"', 1))
    assert generate.main(["--check"]) == 1
    edited.unlink()
    assert generate.main(["--check"]) == 1


def test_the_sdk_is_the_grafana_11_6_build_and_the_dashboards_its_schema() -> None:
    """A plain install would take the 10.1 build (its version epoch sorts first)."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    pins = [d for d in dev if d.startswith("grafana-foundation-sdk")]
    assert len(pins) == 1
    match = re.fullmatch(r"grafana-foundation-sdk==(\d+)!(\d+\.\d+)\.\d+", pins[0])
    assert match, pins[0]
    assert match.group(2) == GRAFANA_VERSION
    assert version("grafana-foundation-sdk") == pins[0].split("==")[1]
    for name, board in dashboards().items():
        assert board["schemaVersion"] == SCHEMA_VERSION, name
