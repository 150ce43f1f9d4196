"""The image served as the cluster runs it (read-only root, its non-root user, writable only the
manifests' volumes): the README's quick start answers, probes, /metrics on the admin port,
exact counts across its workers, and `podman stop -t <terminationGracePeriodSeconds>` drains
(requests during the window succeed) and the container exits 0."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2

from tests.integration.test_metrics import OK_ROW, check_totals, send_mix
from tests.support.image_contract import ImageContract
from tests.support.podman import serving
from tests.support.processes import ROOT

WORKERS = 2
# The image's defaults (README, Shutdown and rollouts): the drain window, then the graceful stop.
DRAIN_S = 5.0


def quick_start() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The README's quick start: each `curl ... /predict -d '<body>'` and the body it printed."""
    section = (ROOT / "README.md").read_text().split("\n## Quick start\n", 1)[1]
    lines = section.split("```console\n", 1)[1].split("```", 1)[0].splitlines()
    pairs = []
    for command, output in itertools.pairwise(lines):
        if command.startswith("$ curl") and "/predict" in command:
            words = shlex.split(command[2:])
            pairs.append((json.loads(words[words.index("-d") + 1]), json.loads(output)))
    return pairs


def test_the_readmes_quick_start_holds_two_curls() -> None:
    (_, answer), (_, error) = quick_start()
    assert "churn_probability" in answer
    assert error["error"] == "validation_error"


def test_the_image_serves_counts_across_its_workers_and_drains_on_podman_stop(
    image: str, contract: ImageContract, tmp_path: Path
) -> None:
    env = {
        "WEB_CONCURRENCY": str(WORKERS),
        "GLASSBOX_WORKER_PID_HEADER": "true",
        "GLASSBOX_TRACING_ENABLED": "false",
    }
    with serving(image, contract, env, tmp_path) as container:
        container.wait_ready()
        ready = httpx2.get(f"{container.url}/readyz", timeout=5)
        assert ready.status_code == 200
        # The compiled engine the build made, verified and loaded by every worker (README: Model
        # engine): the image's own, read-only artifact.
        assert ready.json()["engine"] == "lleaves", ready.text
        assert httpx2.get(f"{container.url}/metrics", timeout=5).status_code == 404
        # Counted exactly across the workers, on the admin port, from the first request.
        sent = send_mix(container, rounds=30)  # type: ignore[arg-type]
        workers = set()
        for _ in range(40):
            r = httpx2.post(f"{container.url}/predict", json=OK_ROW,
                            headers={"connection": "close"}, timeout=10)  # fmt: skip
            assert r.status_code == 200
            workers.add(r.headers["x-worker-pid"])
            sent["single"] += 1
        assert len(workers) == WORKERS, workers
        scrape = httpx2.get(f"{container.admin_url}/metrics", timeout=10)
        assert scrape.status_code == 200
        check_totals(scrape.text, sent)
        # The README's curls, answered as the README shows (a prediction id is new each time).
        for body, shown in quick_start():
            answer = httpx2.post(f"{container.url}/predict", json=body, timeout=10)
            got = answer.json()
            if "prediction_id" in shown:
                assert answer.status_code == 200
                assert re.fullmatch(r"[0-9a-f]{32}", got.pop("prediction_id"))
                shown.pop("prediction_id")
            else:
                assert answer.status_code == 422
            assert got == shown

        grace = contract.termination_grace_period_seconds
        started = time.monotonic()
        with subprocess.Popen(["podman", "stop", "--time", str(grace), container.name],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as stop:  # fmt: skip
            try:
                container.wait_for_event("drain started", timeout_s=10)
                during = []
                while time.monotonic() - started < DRAIN_S - 1.5:
                    r = httpx2.post(f"{container.url}/predict", json=OK_ROW,
                                    headers={"connection": "close"}, timeout=5)  # fmt: skip
                    during.append(r.status_code)
                    time.sleep(0.1)
                readyz = httpx2.get(f"{container.url}/readyz", timeout=5)
                assert (readyz.status_code, readyz.json()["reason"]) == (503, "draining")
                assert during
                assert set(during) == {200}, during
                output, _ = stop.communicate(timeout=grace + 30)
            except BaseException:
                stop.kill()
                raise
        assert stop.returncode == 0, output
        stopped_after = time.monotonic() - started
        state = container.state()
        assert state["ExitCode"] == 0, state
        # Stopped by itself within drain + graceful timeout, not by podman's SIGKILL at grace.
        assert stopped_after < grace, stopped_after
        log = container.log()
        for trouble in ("control socket", "read-only file system", "permission denied",
                        "traceback"):  # fmt: skip
            assert trouble not in log.lower(), log
        errors = [e for e in container.log_events() if e.get("level") in ("error", "critical")]
        assert errors == [], errors
        loaded = [e["event"] for e in container.log_events()
                  if str(e.get("event")).startswith("model loaded")]  # fmt: skip
        assert len(loaded) >= WORKERS, loaded
        assert all(event.endswith("; engine lleaves") for event in loaded), loaded
