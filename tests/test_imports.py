"""Importing any app module has no side effects: no thread, no file opened, no setting read.

This is what makes pre-fork workers, OpenTelemetry's export thread and multiprocess metrics
safe: everything happens in create_app() and the lifespan, in each worker, after fork.
"""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.processes import ROOT

PROBE = textwrap.dedent(
    """
    import os, pkgutil, importlib, sys, threading, json

    # Third-party libraries may start native pools or read the environment at import (OpenBLAS
    # does); what is measured here is what the app's own modules add on top.
    import numpy, scipy.stats, scipy.spatial, lightgbm, fastapi, pydantic_settings  # noqa
    import prometheus_client, prometheus_client.multiprocess, structlog  # noqa
    import opentelemetry.sdk.trace, opentelemetry.sdk.resources  # noqa
    import opentelemetry.sdk.trace.export  # noqa

    reads = []

    class Spy(type(os.environ)):
        def __getitem__(self, key):
            reads.append(key)
            return super().__getitem__(key)

        def __iter__(self):
            reads.append("<whole environment>")
            return super().__iter__()

    os.environ = Spy(os.environ._data, os.environ.encodekey, os.environ.decodekey,
                     os.environ.encodevalue, os.environ.decodevalue)

    opened = []
    project = os.getcwd()

    def audit(event, args):
        if event == "open" and isinstance(args[0], str):
            path = os.path.abspath(args[0])
            if path.startswith(project) and "__pycache__" not in path and not path.endswith(".py"):
                opened.append(path)

    tasks_before = len(os.listdir("/proc/self/task"))
    fds_before = set(os.listdir("/proc/self/fd"))
    sys.addaudithook(audit)

    import app
    names = [m.name for m in pkgutil.walk_packages(app.__path__, "app.")]
    for name in names:
        importlib.import_module(name)

    print(json.dumps({
        "modules": names,
        "threads": threading.active_count(),
        "tasks_added": len(os.listdir("/proc/self/task")) - tasks_before,
        "new_fds": sorted(set(os.listdir("/proc/self/fd")) - fds_before),
        "opened": opened,
        "environment_read": [k for k in reads if k == "<whole environment>"
                             or k.startswith(("GLASSBOX_", "OTEL_", "PROMETHEUS_"))
                             or k in ("PORT", "HOST", "WEB_CONCURRENCY")],
    }))
    """
)


def test_importing_every_app_module_has_no_side_effects() -> None:
    import json

    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "GLASSBOX_MODEL_DIR": "/nonexistent", "PORT": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert {"app.main", "app.model.predictor", "app.settings"} <= set(report["modules"])
    assert report["threads"] == 1
    assert report["tasks_added"] == 0
    assert report["opened"] == []
    assert report["new_fds"] == []
    assert report["environment_read"] == []


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_prediction_core_imports_nothing_of_the_service() -> None:
    """app/model/ is the pure core: no HTTP, no telemetry, no drift, no demo code, no settings."""
    for path in sorted((ROOT / "app" / "model").glob("*.py")):
        ours = {m for m in imported_modules(path) if m.split(".")[0] in ("app", "examples")}
        assert {m for m in ours if not m.startswith("app.model")} == set(), path.name


# The direction of imports inside app/: a package may not import those listed for it.
# app.main is the composition root: it imports every package, none imports it.
FORBIDDEN = {
    "model": ("app.drift", "app.api", "app.telemetry", "app.main", "examples"),
    "drift": ("app.api", "app.telemetry", "app.main", "examples"),
    "telemetry": ("app.api", "app.main", "examples"),
    "api": ("app.main", "examples"),
    # The fast paths know the libraries only: the service hands them what they work on.
    "fast_paths": ("app.model", "app.drift", "app.api", "app.telemetry", "app.main", "examples"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package: str) -> None:
    """app/model/ is the pure core (no HTTP, no telemetry, no drift); drift knows nothing of
    HTTP or telemetry; telemetry nothing of the API; and the API is handed the worker's state
    (app/api/deps.py's WorkerState) rather than importing the composition root that owns it."""
    paths = sorted((ROOT / "app" / package).rglob("*.py"))
    assert paths
    for path in paths:
        wrong = {m for m in imported_modules(path) if m.startswith(FORBIDDEN[package])}
        assert wrong == set(), f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_import_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from app.api.errors import ERROR_TABLE\nimport app.telemetry.metrics\n")
    assert imported_modules(module) == {"app.api.errors", "app.telemetry.metrics"}


def test_the_serving_package_imports_no_demo_code() -> None:
    for path in sorted((ROOT / "app").rglob("*.py")):
        assert not any(m.startswith("examples") for m in imported_modules(path)), path
