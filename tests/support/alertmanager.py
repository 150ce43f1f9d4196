"""A real Alertmanager for the tests: monitoring/alertmanager.yml on a free port, its data in a
temp dir, clustering off, stopped with its process group."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2

from tests.support.processes import free_port, ready_process
from tests.support.tools import require_tool


@dataclass(frozen=True)
class Alertmanager:
    url: str
    log_path: Path

    def post(self, *label_sets: dict[str, str]) -> None:
        """Alerts firing now, for ten minutes, as Prometheus sends them."""
        now = datetime.now(UTC)
        alerts = [
            {"labels": labels, "startsAt": now.isoformat(),
             "endsAt": (now + timedelta(minutes=10)).isoformat()}
            for labels in label_sets
        ]  # fmt: skip
        response = httpx2.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10.0)
        assert response.status_code == 200, response.text

    def alerts(self) -> list[dict[str, Any]]:
        response = httpx2.get(f"{self.url}/api/v2/alerts", timeout=10.0)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def status_of(self, labels: dict[str, str]) -> dict[str, Any]:
        """The status (state, inhibitedBy) of the alert with exactly these labels."""
        matching = [a for a in self.alerts() if a["labels"] == labels]
        assert len(matching) == 1, (labels, self.alerts())
        status: dict[str, Any] = matching[0]["status"]
        return status


@contextmanager
def alertmanager(tmp_path: Path, config: Path) -> Iterator[Alertmanager]:
    binary = require_tool("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    log_path = tmp_path / "alertmanager.log"
    url = f"http://127.0.0.1:{port}"
    argv = [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            "--log.level=warn"]  # fmt: skip
    with ready_process("alertmanager", argv, log_path, f"{url}/-/ready"):
        yield Alertmanager(url=url, log_path=log_path)
