"""The fast paths were checked against one release of each library they reach into: the
installed one must be it, and pyproject.toml admits only its patch releases."""

import importlib.metadata
import re
import tomllib

import pytest

from app.fast_paths import CHECKED_VERSIONS
from tests.support.processes import ROOT

# Written out here: what app/fast_paths reaches into (tests/fast_paths/test_private_names.py).
LIBRARIES = {
    "prometheus-client", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-exporter-otlp-proto-common", "structlog",
    "uvicorn",  # app/http_protocol.py: its protocol class, extended
}  # fmt: skip


def test_every_library_reached_into_has_a_checked_version() -> None:
    assert set(CHECKED_VERSIONS) == LIBRARIES


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_the_installed_version_is_the_checked_one(library: str) -> None:
    installed = importlib.metadata.version(library)
    checked = CHECKED_VERSIONS[library]
    assert installed == checked, (
        f"{library} {installed} is installed, but app/fast_paths was checked against "
        f"{checked}: re-run tests/fast_paths and the prices (make bench-instructions), then "
        "update CHECKED_VERSIONS and the package's docstring"
    )


def test_the_docstring_names_the_checked_versions() -> None:
    import app.fast_paths

    doc = " ".join((app.fast_paths.__doc__ or "").split())
    for library, version in CHECKED_VERSIONS.items():
        assert f"{library} {version}" in doc, library


def direct_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {}
    for line in project["dependencies"]:
        name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?(.*)", line).groups()  # type: ignore[union-attr]
        requirements[name.lower()] = spec.strip()
    return requirements


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_pyproject_admits_patch_releases_only(library: str) -> None:
    """A direct requirement pins ``~=X.Y.Z``; the proto-common encoder comes with the exporter,
    which requires it exactly."""
    requirements = direct_requirements()
    if library not in requirements:
        exporter = importlib.metadata.requires("opentelemetry-exporter-otlp-proto-http") or []
        assert f"{library}=={CHECKED_VERSIONS[library]}" in exporter
        return
    assert requirements[library] == f"~={CHECKED_VERSIONS[library]}"
