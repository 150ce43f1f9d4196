"""The built image under podman, as the cluster runs it: read-only root, its non-root user,
writable only the volumes the manifests mount, on free 127.0.0.1 ports of the host's network."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from tests.support.image_contract import ImageContract
from tests.support.processes import free_port, json_lines
from tests.support.tools import missing, require_tool


def built_image() -> str:
    """The image `make test-image` built (GLASSBOX_TEST_IMAGE)."""
    require_tool("podman", "podman")
    image = os.environ.get("GLASSBOX_TEST_IMAGE")
    if not image:
        missing("GLASSBOX_TEST_IMAGE is not set: run the image tests with `make test-image`")
    return image


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {done.returncode}:\n{done.stderr}")
    return done


def inspect(image: str) -> dict[str, Any]:
    """The image's config (User, Env, ExposedPorts, Entrypoint, Cmd, WorkingDir)."""
    config: dict[str, Any] = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    return config


def pod_flags(contract: ImageContract) -> list[str]:
    """`podman run`'s flags for the pod's security context and volumes: the root filesystem
    read-only with no tmpfs of podman's own (/tmp, /var/tmp, /run), the contract's user, and a
    tmpfs at each volume the manifests mount (sized as theirs: README, In a pod), owned by the
    user (``U``; in a pod, the emptyDir's fsGroup makes it the user's group's)."""
    return [
        "--read-only", "--read-only-tmpfs=false",
        "--user", f"{contract.uid}:{contract.gid}",
        "--cap-drop=all", "--security-opt=no-new-privileges",
        "--tmpfs", f"{contract.multiprocess_dir}:rw,size=64m,U",
        "--tmpfs", f"{contract.worker_tmp_dir}:rw,size=1m,U",
        *ulimits(),
    ]  # fmt: skip


def ulimits() -> list[str]:
    """Limits the runtime can set: podman as root asks for 1048576 open files, which a host
    without CAP_SYS_RESOURCE (this one's sandbox) refuses at container start. The host's own
    open-file limit, and a process limit well above what a pod runs."""
    _, files = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ["--ulimit", f"nofile={files}:{files}", "--ulimit", "nproc=4096:4096"]


def run_once(
    image: str, contract: ImageContract, *command: str
) -> subprocess.CompletedProcess[str]:
    """A one-off command in the image, as the pod runs it (python on the image's PATH)."""
    return podman(
        "run", "--rm", "--network=none", *pod_flags(contract), "--entrypoint", command[0],
        image, *command[1:],
    )  # fmt: skip


@dataclass
class Container:
    """The serving container on the host's network: its ports are free ports of 127.0.0.1."""

    name: str
    port: int
    admin_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(podman("inspect", self.name).stdout)[0]["State"]
        return state

    def log(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def log_events(self) -> list[dict[str, Any]]:
        return json_lines(self.log())

    def wait_for_event(self, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log_events():
                if line.get("event") == event:
                    return line
            time.sleep(0.1)
        raise TimeoutError(f"no {event!r} line after {timeout_s}s:\n{self.log()}")

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.state()["Running"]:
                raise RuntimeError(f"the container exited: {self.state()}\n{self.log()}")
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"not ready after {timeout_s}s:\n{self.log()}")


@contextmanager
def serving(
    image: str, contract: ImageContract, env: Mapping[str, str], log_dir: Path
) -> Iterator[Container]:
    """The image's own entrypoint, detached; removed (and its log kept in log_dir) at the end."""
    port, admin_port = free_port(), free_port()
    container = Container(f"glassbox-test-{os.getpid()}-{port}", port, admin_port)
    environment: Sequence[str] = [
        f"--env={key}={value}"
        for key, value in {
            "HOST": "127.0.0.1", "PORT": str(port), "GLASSBOX_ADMIN_PORT": str(admin_port), **env,
        }.items()
    ]  # fmt: skip
    podman("run", "--detach", "--name", container.name, "--network=host", *pod_flags(contract),
           *environment, image)  # fmt: skip
    try:
        yield container
    finally:
        (log_dir / f"{container.name}.log").write_text(container.log())
        podman("rm", "--force", "--time", "0", container.name, check=False)
