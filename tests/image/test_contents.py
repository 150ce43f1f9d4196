"""What the image holds and how it is configured: read from the image itself."""

from __future__ import annotations

import json

from tests.support.image_contract import ImageContract
from tests.support.podman import inspect, run_once


def test_lightgbm_imports_as_the_image_user_with_no_network(
    image: str, contract: ImageContract
) -> None:
    """The first check: LightGBM's wheel links libgomp.so.1, which the base does not have;
    the image's own user, on the image's own PATH, loads it."""
    done = run_once(
        image, contract, "python", "-c",
        "import os, lightgbm; print(os.getuid(), os.getgid(), lightgbm.__version__)",
    )  # fmt: skip
    uid, gid, _version = done.stdout.split()
    assert (int(uid), int(gid)) == (contract.uid, contract.gid), done.stderr


def test_the_image_is_configured_as_the_pod_contract_says(
    image: str, contract: ImageContract
) -> None:
    config = inspect(image)
    assert config["User"] == f"{contract.uid}:{contract.gid}"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PROMETHEUS_MULTIPROC_DIR"] == contract.multiprocess_dir
    assert env["GLASSBOX_WORKER_TMP_DIR"] == contract.worker_tmp_dir
    assert env["GLASSBOX_MODEL_DIR"] == contract.model_dir
    assert int(env["PORT"]) == contract.public_port
    assert int(env["GLASSBOX_ADMIN_PORT"]) == contract.admin_port
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert set(config["ExposedPorts"]) == {
        f"{contract.public_port}/tcp", f"{contract.admin_port}/tcp",
    }  # fmt: skip
    assert config["WorkingDir"] == contract.workdir
    # Exec form, no shell: the draining master is PID 1 and nothing is added after it.
    assert tuple(config["Entrypoint"]) == contract.entrypoint
    assert not config.get("Cmd")
    # podman's OCI format keeps no HEALTHCHECK, and the Dockerfile declares none (README).
    assert "Healthcheck" not in config


# What the final stage may hold under its working directory, and what no image of it may.
SERVED = {"app", "models", "gunicorn.conf.py"}
PROBE = """
import json, os, shutil, sys, importlib.util
print(json.dumps({
    "workdir": sorted(os.listdir(".")),
    "tools": {t: shutil.which(t) for t in ("uv", "pip", "pip3", "gcc", "cc", "make", "git")},
    "modules": {m: importlib.util.find_spec(m) is not None
                for m in ("pip", "setuptools", "pytest", "examples", "tests", "bench")},
    "executable": sys.executable,
}))
"""


def test_the_final_stage_holds_the_service_and_no_build_tools_demo_or_tests(
    image: str, contract: ImageContract
) -> None:
    found = json.loads(run_once(image, contract, "python", "-c", PROBE).stdout)
    assert set(found["workdir"]) == SERVED
    assert found["tools"] == dict.fromkeys(found["tools"])
    assert found["modules"] == dict.fromkeys(found["modules"], False)
    assert found["executable"].startswith("/opt/venv/")
    listing = run_once(image, contract, "python", "-c",
                       "import os; print(sorted(os.listdir('app/model')))").stdout  # fmt: skip
    assert "predictor.py" in listing
    assert "__pycache__" not in run_once(image, contract, "python", "-c",
                                         "import os; print(os.listdir('app'))").stdout  # fmt: skip


WRITABLE = """
import os
for top, dirs, _ in os.walk("/"):
    if top in ("/proc", "/sys"):
        dirs[:] = []
        continue
    if os.access(top, os.W_OK):
        print(top)
"""


# The runtime's own, in every container and every pod: POSIX shared memory and message queues.
RUNTIME_WRITABLE = ("/dev/shm", "/dev/mqueue")


def test_only_the_volumes_and_the_runtimes_ipc_mounts_are_writable_for_the_user(
    image: str, contract: ImageContract
) -> None:
    """Run as the pod runs it: of every directory (but /proc and /sys) the user may write to
    the two volumes and the runtime's /dev/shm and /dev/mqueue only."""
    done = run_once(image, contract, "python", "-c", WRITABLE)
    assert sorted(done.stdout.split()) == sorted([*contract.volumes, *RUNTIME_WRITABLE]), (
        done.stderr
    )
