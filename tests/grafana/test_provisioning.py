"""The provisioning files are what a stock Grafana reads: apiVersion 1, a Prometheus data source
whose uid the dashboards default to, and a dashboards provider whose path is where the README's
command mounts the committed dashboards."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from tests.grafana.test_generated import GRAFANA_VERSION
from tests.support.dashboards import (
    DASHBOARD_FILES,
    PROVISIONING,
    PROVISIONING_FILES,
    dashboards,
    variables,
)
from tests.support.processes import ROOT
from tests.support.rules import MONITORING, load

# The official image's provisioning directory (GF_PATHS_PROVISIONING).
GRAFANA_PROVISIONING = PurePosixPath("/etc/grafana/provisioning")


def readme_mounts() -> dict[PurePosixPath, str]:
    """{path in the container: repository path} of the README's `docker run` volumes."""
    text = (ROOT / "README.md").read_text()
    found = re.findall(r'-v "\$PWD/([^:"]+):([^:"]+)(?::ro)?"', text)
    return {PurePosixPath(inside): outside for outside, inside in found}


def test_every_provisioning_file_has_api_version_1() -> None:
    assert len(PROVISIONING_FILES) == 2
    for path in PROVISIONING_FILES:
        assert load(path)["apiVersion"] == 1, path


def test_the_data_source_is_the_prometheus_the_dashboards_default_to() -> None:
    (source,) = load(PROVISIONING / "datasources" / "glassbox.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["access"] == "proxy"
    for board in dashboards().values():
        (variable,) = [v for v in variables(board) if v["name"] == "datasource"]
        assert variable["current"]["value"] == source["uid"], board["title"]
        assert variable["current"]["text"] == source["name"], board["title"]
    scrape = load(MONITORING / "prometheus.yml")["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape


def test_the_provider_path_is_where_the_readme_mounts_the_committed_dashboards() -> None:
    mounts = readme_mounts()
    assert mounts.get(GRAFANA_PROVISIONING) == "grafana/provisioning", mounts
    (provider,) = load(PROVISIONING / "dashboards" / "glassbox.yml")["providers"]
    assert provider["type"] == "file"
    inside = PurePosixPath(provider["options"]["path"])
    assert inside in mounts, f"the README mounts nothing at {inside}"
    folder = ROOT / mounts[inside]
    assert folder.is_dir(), folder
    assert sorted(folder.glob("*.json")) == DASHBOARD_FILES
    assert DASHBOARD_FILES


def test_the_readme_runs_the_grafana_the_dashboards_target() -> None:
    images = re.findall(r"grafana/grafana:(\d+\.\d+)\.\d+", (ROOT / "README.md").read_text())
    assert images == [GRAFANA_VERSION]
