"""The server as a pod runs it: a non-root user with no capabilities, the working tree and the
root filesystem read-only, and writable only the two volumes a manifest mounts (the
multiprocess directory and gunicorn's worker temp directory, each a tmpfs mount point). It
serves on both ports, counts exactly, and drains on SIGTERM; it writes nowhere else (no control
socket, no heartbeat file in /tmp). A private mount namespace of the test's own
(tests/support/pod_sandbox.py).

The user, the volumes' paths and sizes and the ports are the rendered prod overlay's
(tests/support/pod_contract.py): what this test proves is what the cluster runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx2

from tests.integration.test_metrics import check_totals, send_mix
from tests.support.metrics import value
from tests.support.pod_contract import pod_contract
from tests.support.pod_sandbox import sandboxed
from tests.support.processes import ROOT, gunicorn
from tests.support.tools import missing

POD = pod_contract()
VOLUMES = POD.volumes
METRICS_DIR, HEARTBEAT_DIR = POD.multiprocess_dir, POD.worker_tmp_dir
USER = (POD.uid, POD.gid)
DRAIN_S = 2.0
WORKERS = 2


def require_free(port: int) -> int:
    """The pod's own port numbers (the mount namespace is private, the network is not): taken
    by another server on this machine, a loud skip (under CI, alone on its machine, a failure)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            missing(f"port {port}, the pod's, is taken on this machine")
    return port


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def open_files(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed while we looked
    return targets


def test_only_the_volumes_are_writable_for_the_user_in_the_sandbox() -> None:
    """The sandbox itself: the user is the pod's, and of every directory of the filesystem
    (but /proc and /sys) it may write to the two volumes only; the working tree refuses a
    file."""
    assert sorted(VOLUMES) == sorted([METRICS_DIR, HEARTBEAT_DIR])
    done = subprocess.run(
        [*sandboxed(ROOT, VOLUMES, USER), "sh", "-c",
         "id -u; find / \\( -path /proc -o -path /sys \\) -prune -o -type d -writable -print; "
         "touch sandbox-probe"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = done.stdout.split()
    assert lines[0] == str(POD.uid), done.stderr
    assert sorted(lines[1:]) == sorted(VOLUMES), done.stderr
    assert "Read-only file system" in done.stderr
    assert not (ROOT / "sandbox-probe").exists()


def test_a_non_root_server_on_a_read_only_tree_serves_counts_and_drains(tmp_path: Path) -> None:
    admin_port = require_free(POD.admin_port)
    port = require_free(POD.public_port)
    admin = f"http://127.0.0.1:{admin_port}"
    env = {
        "PROMETHEUS_MULTIPROC_DIR": METRICS_DIR,
        "GLASSBOX_WORKER_TMP_DIR": HEARTBEAT_DIR,
        "GLASSBOX_ADMIN_PORT": str(admin_port),
        "GLASSBOX_DRAIN_SECONDS": str(DRAIN_S),
        "GLASSBOX_LOG_FORMAT": "json",
        "HOME": "/nonexistent",  # the pod's user has no home
    }
    sandbox = sandboxed(ROOT, VOLUMES, USER)
    with gunicorn(tmp_path, WORKERS, env, port=port, wrapper=sandbox) as server:
        workers = server.worker_pids()
        assert len(workers) == WORKERS
        for pid in [server.master_pid, *workers]:
            fields = status_fields(pid)
            assert fields["Uid"].split() == [str(POD.uid)] * 4, pid
            assert fields["Gid"].split() == [str(POD.gid)] * 4, pid
            assert int(fields["CapEff"], 16) == 0, pid
            assert int(fields["CapPrm"], 16) == 0, pid
        for pid in workers:
            files = open_files(pid)
            heartbeats = [f for f in files if f.startswith(f"{HEARTBEAT_DIR}/wgunicorn-")]
            assert heartbeats, files
            assert all(f.endswith(" (deleted)") for f in heartbeats), files
            assert any(f.startswith(f"{METRICS_DIR}/counter_{pid}.db") for f in files), "\n".join(
                files
            )

        sent = send_mix(server, rounds=30)
        scrape = httpx2.get(f"{admin}/metrics", timeout=10)
        assert scrape.status_code == 200
        check_totals(scrape.text, sent)
        assert httpx2.get(f"{admin}/drift", timeout=10).status_code == 200

        server.process.send_signal(signal.SIGTERM)
        server.drain_started_at()
        time.sleep(DRAIN_S / 4)
        ready = httpx2.get(f"{server.url}/readyz", timeout=5)
        assert (ready.status_code, ready.json()["reason"]) == (503, "draining")
        assert value(httpx2.get(f"{admin}/metrics", timeout=5).text, "glassbox_draining") == 1
        assert server.process.wait(timeout=DRAIN_S + 30) == 0

    log = server.log()
    lowered = log.lower()
    for trouble in ("control socket", "read-only file system", "permission denied", "traceback"):
        assert trouble not in lowered, log
    errors = [e for e in server.log_events() if e.get("level") in ("error", "critical")]
    assert errors == [], errors
