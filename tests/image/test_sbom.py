"""The SBOM kept beside the image lists exactly the image's installed distributions."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.support.image_contract import ImageContract
from tests.support.podman import run_once
from tests.support.tools import missing

INSTALLED = """
import importlib.metadata as m, json
print(json.dumps([[d.metadata["Name"], d.version] for d in m.distributions()]))
"""


def canonical(name: str) -> str:
    """PEP 503's normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sbom_path() -> Path:
    raw = os.environ.get("GLASSBOX_TEST_SBOM")
    if not raw:
        missing("GLASSBOX_TEST_SBOM is not set: run the image tests with `make test-image`")
    return Path(raw)


def test_every_installed_distribution_is_in_the_sbom_at_its_version_and_nothing_else(
    image: str, contract: ImageContract
) -> None:
    sbom = json.loads(sbom_path().read_text())
    assert (sbom["bomFormat"], sbom["specVersion"]) == ("CycloneDX", "1.5")
    listed = {(canonical(c["name"]), c["version"]) for c in sbom["components"]}
    assert all(c["purl"] == f"pkg:pypi/{c['name']}@{c['version']}" for c in sbom["components"])
    installed = json.loads(run_once(image, contract, "python", "-c", INSTALLED).stdout)
    found = {(canonical(name), version) for name, version in installed}
    assert len(found) == len(installed)  # no distribution twice
    assert found == listed
