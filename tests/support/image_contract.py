"""The pod contract as the image must meet it: what the rendered prod overlay states
(:func:`tests.support.pod_contract.pod_contract`: the user, the volumes' paths, the ports), plus
the model directory and the grace period ``podman stop`` gets, read from the same rendering, and
what the Deployment leaves to the image (it sets no ``command`` or ``workingDir``): the working
directory and the entry point.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from tests.support.kustomize import environment, one, render
from tests.support.pod_contract import OVERLAY, pod_contract

# What the image itself must state, because the Deployment relies on it (README: The image).
WORKDIR = "/app"
ENTRYPOINT = ("python", "-m", "app.serve", "--config", "gunicorn.conf.py")


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


@functools.cache
def image_contract() -> ImageContract:
    pod = pod_contract()
    objects = render(OVERLAY)
    spec = one(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    stated = {"command", "workingDir"} & container.keys()
    assert not stated, f"the Deployment now states {stated}: read them from it"
    return ImageContract(
        uid=pod.uid,
        gid=pod.gid,
        public_port=pod.public_port,
        admin_port=pod.admin_port,
        multiprocess_dir=pod.multiprocess_dir,
        worker_tmp_dir=pod.worker_tmp_dir,
        model_dir=environment(objects, container)["GLASSBOX_MODEL_DIR"],
        workdir=WORKDIR,
        entrypoint=ENTRYPOINT,
        termination_grace_period_seconds=int(spec["terminationGracePeriodSeconds"]),
    )
