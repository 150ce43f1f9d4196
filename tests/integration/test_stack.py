"""`make stack`: the service, a real Prometheus with the repo's rules and a real Alertmanager on
free ports; Prometheus scrapes the service and sends to the Alertmanager; Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from monitoring import service
from tests.support.processes import ROOT, server_environment
from tests.support.tools import require_tool


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_stack_starts_watches_the_service_and_stops_on_ctrl_c() -> None:
    require_tool("prometheus", "prometheus")
    require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    stack = subprocess.Popen(
        [sys.executable, "-m", "monitoring.stack", "--scrape-interval", "1s"],
        cwd=ROOT, env=server_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        lines = []
        assert stack.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = stack.stdout.readline()
            assert line or stack.poll() is None, "".join(lines)
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        banner = "".join(lines)
        directory = re.search(r"data in (\S+)\)", banner).group(1)  # type: ignore[union-attr]
        urls = dict(re.findall(r"^  (\w+)\s+(http://\S+)", banner, re.MULTILINE))
        assert set(urls) == {"service", "prometheus", "alertmanager"}, banner
        assert "make traffic" in banner

        prometheus = urls["prometheus"]
        deadline = time.monotonic() + 30
        health: list[str] = []
        while time.monotonic() < deadline:
            targets = httpx2.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
            health = [t["health"] for t in targets["activeTargets"]]
            if health == ["up"]:
                break
            time.sleep(0.5)
        assert health == ["up"]
        (target,) = targets["activeTargets"]
        assert target["labels"]["job"] == service.job()
        assert target["scrapeUrl"] == f"{urls['service']}/metrics"
        managers = httpx2.get(f"{prometheus}/api/v1/alertmanagers", timeout=5).json()["data"]
        assert [m["url"] for m in managers["activeAlertmanagers"]] == [
            f"{urls['alertmanager']}/api/v2/alerts"
        ]
        rules = httpx2.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {"glassbox-service", "glassbox-drift-fleet"} <= {g["name"] for g in rules}
        assert httpx2.get(f"{urls['service']}/readyz", timeout=5).status_code == 200

        os.kill(stack.pid, signal.SIGINT)  # what Ctrl-C sends
        assert stack.wait(timeout=60) == 0
        assert processes_mentioning(directory) == [], "every process of the stack stopped"
        assert not Path(directory).exists(), "its temp dir removed"
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGTERM)
            stack.wait(timeout=60)
        assert stack.stdout is not None
        stack.stdout.close()
