"""A real Prometheus server (Debian's package) scraping a target, for integration tests."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from monitoring import service
from tests.support.processes import free_port, ready_process
from tests.support.tools import require_tool


@dataclass
class Prometheus:
    url: str
    log_path: Path

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, now or ``at`` (Unix seconds)."""
        params = {"query": expr} if at is None else {"query": expr, "time": repr(at)}
        response = httpx2.get(f"{self.url}/api/v1/query", params=params, timeout=5.0)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def evaluate(self, expr: str) -> dict[str, Any]:
        """An instant query now, held to Prometheus' ``"status": "success"``: its ``data``."""
        response = httpx2.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10.0)
        body: dict[str, Any] = response.json()
        assert response.status_code == 200, (expr, body)
        assert body["status"] == "success", (expr, body)
        data: dict[str, Any] = body["data"]
        return data

    def rules(self) -> list[dict[str, Any]]:
        """Every rule Prometheus loaded, with its group's name under ``group``."""
        response = httpx2.get(f"{self.url}/api/v1/rules", timeout=10.0)
        response.raise_for_status()
        groups = response.json()["data"]["groups"]
        return [{**rule, "group": g["name"]} for g in groups for rule in g["rules"]]

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, expected: float, timeout_s: float = 20.0) -> float | None:
        """Poll until expr evaluates to expected (scrapes are periodic); return the last value."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            last = self.scalar(expr)
            if last == expected:
                return last
            time.sleep(0.25)
        return last


def finite_values(data: dict[str, Any]) -> list[float]:
    """The finite values of an instant query's ``data`` (a vector's samples, or a scalar)."""
    if data["resultType"] == "scalar":
        values = [float(data["result"][1])]
    else:
        values = [float(series["value"][1]) for series in data["result"]]
    return [v for v in values if math.isfinite(v)]


@contextmanager
def prometheus(
    tmp_path: Path,
    target: str | Sequence[str],
    interval_s: float = 1.0,
    rule_files: Sequence[Path] = (),
) -> Iterator[Prometheus]:
    """Scrapes ``target`` (one or several: the pods of one deployment) as the service's job
    (monitoring/prometheus.yml's) every interval and evaluates ``rule_files`` as often."""
    targets = [target] if isinstance(target, str) else list(target)
    binary = require_tool("prometheus", "prometheus")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    interval = f"{int(interval_s * 1000)}ms"
    rules = ", ".join(f"'{path}'" for path in rule_files)
    config.write_text(
        f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
        f"  evaluation_interval: {interval}\n"
        f"rule_files: [{rules}]\n"
        f"scrape_configs:\n  - job_name: {service.job()}\n    static_configs:\n"
        f"      - targets: {targets!r}\n"
    )
    log_path = tmp_path / "prometheus.log"
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with ready_process("prometheus", argv, log_path, f"{url}/-/ready"):
        yield Prometheus(url=url, log_path=log_path)
