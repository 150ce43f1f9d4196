"""The pod the manifests describe, read from the rendered prod overlay: the user, the writable
paths and their volumes' sizes, the ports. The read-only pod test runs the server with these
values, so what the cluster-process tests exercise is what the cluster gets."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tests.support.kustomize import environment, one, render

OVERLAY = "prod"


@dataclass(frozen=True)
class PodContract:
    uid: int
    gid: int
    public_port: int
    admin_port: int
    multiprocess_dir: str
    worker_tmp_dir: str
    # {mount path: the emptyDir's sizeLimit as a tmpfs size (64Mi -> 64m)}
    volumes: dict[str, str]


def tmpfs_size(quantity: str) -> str:
    """A Kubernetes binary quantity (Ki, Mi, Gi) as tmpfs's size option."""
    for suffix in ("Ki", "Mi", "Gi"):
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + suffix[0].lower()
    raise ValueError(f"not a binary quantity: {quantity}")


@functools.cache
def pod_contract() -> PodContract:
    objects = render(OVERLAY)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context = container["securityContext"]
    env = environment(objects, container)
    sizes = {v["name"]: v["emptyDir"]["sizeLimit"] for v in pod["volumes"] if "emptyDir" in v}
    return PodContract(
        uid=context["runAsUser"],
        gid=context["runAsGroup"],
        public_port=int(env["PORT"]),
        admin_port=int(env["GLASSBOX_ADMIN_PORT"]),
        multiprocess_dir=env["PROMETHEUS_MULTIPROC_DIR"],
        worker_tmp_dir=env["GLASSBOX_WORKER_TMP_DIR"],
        volumes={m["mountPath"]: tmpfs_size(sizes[m["name"]]) for m in container["volumeMounts"]},
    )
