"""Issue 5's second figure: what one /metrics scrape costs a pod of 3 workers.

Its own small measurement, after the plan: the service as shipped with WEB_CONCURRENCY=3 (every
process pinned to the servers' core, as every server here) gets a few seconds of single-row
traffic so the workers have written their metric and drift files, goes idle, and then answers
SCRAPES sequential GETs of /metrics sent with Prometheus's Accept header. Reported: wall time
per scrape (client side) and the server's CPU per scrape (all processes of its group, from
/proc, so the thread the scrape runs on is included), minus the group's idle CPU over as long.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import server, wrk
from bench.configs import SINGLE, service
from bench.server import CLK_TCK, ServerError
from bench.workload import Workload
from tests.support.metrics import series_count

WORKERS = 3
SCRAPES = 50
TRAFFIC_S = 3
TRAFFIC_CONNECTIONS = 16
# What Prometheus sends: the service answers in OpenMetrics.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

CONFIG = service(
    "scrape-3w",
    f"issue 5: the service as shipped with {WORKERS} workers, scraped {SCRAPES} times",
    endpoints=(SINGLE.name,),
    workers=WORKERS,
)


def _get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": PROMETHEUS_ACCEPT})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise ServerError(f"/metrics answered {response.status}")
        return bytes(response.read())


def measure(load: Workload, server_cpu: str, load_cpu: str, log_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-scrape-") as tmp:
        workdir = Path(tmp)
        bodies = workdir / "single.bodies"
        bodies.write_bytes(load.lines(SINGLE.name))
        script = wrk.write_script(bodies, workdir / "single.times", workdir / "single.lua")
        srv = server.start(CONFIG, workdir, server_cpu, log_dir)
        try:
            srv.wait_ready()
            return _measure(srv, script, load_cpu)
        finally:
            srv.stop()


def _measure(srv: server.Server, script: Path, load_cpu: str) -> dict[str, Any]:
    url = srv.url(SINGLE.path)
    argv = wrk.command(url, TRAFFIC_CONNECTIONS, TRAFFIC_S, script, load_cpu)
    subprocess.run(argv, check=True, capture_output=True, timeout=TRAFFIC_S + 60)
    _get(srv.url("/metrics"))  # first scrape: imports and caches, not what a scrape costs
    srv.wait_idle()
    # The group's idle CPU (the drift loop, the event loops) over about as long as the scrapes.
    idle_started, idle_ticks = time.monotonic(), srv.cpu_ticks()
    time.sleep(1.0)
    idle_rate = (srv.cpu_ticks() - idle_ticks) / CLK_TCK / (time.monotonic() - idle_started)

    walls_ms: list[float] = []
    started, ticks = time.monotonic(), srv.cpu_ticks()
    for _ in range(SCRAPES):
        t = time.perf_counter()
        payload = _get(srv.url("/metrics"))
        walls_ms.append((time.perf_counter() - t) * 1e3)
    elapsed_s = time.monotonic() - started
    cpu_s = (srv.cpu_ticks() - ticks) / CLK_TCK
    srv.check_unchanged()
    multiproc = Path(srv.env_overrides["PROMETHEUS_MULTIPROC_DIR"])
    return {
        "workers": WORKERS,
        "scrapes": SCRAPES,
        "wall_ms_p50": statistics.median(walls_ms),
        "wall_ms_mean": statistics.fmean(walls_ms),
        "wall_ms_max": max(walls_ms),
        "cpu_us_per_scrape": max(0.0, cpu_s - idle_rate * elapsed_s) / SCRAPES * 1e6,
        "cpu_us_per_scrape_raw": cpu_s / SCRAPES * 1e6,
        "idle_cpu_share": idle_rate,
        "payload_bytes": len(payload),
        "series": series_count(payload.decode()),
        "multiprocess_files": len(list(multiproc.iterdir())),
        # A worker's drift file appears at its first prediction: the workers that had traffic.
        "workers_with_traffic": len(list(multiproc.glob("drift_*.counts"))),
    }


def table(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"/metrics scrape: FAILED: {result['error']}"
    r = result
    return (
        f"/metrics scrape, {r['workers']} workers on one core, {r['scrapes']} sequential scrapes "
        f"(OpenMetrics):\n"
        f"  wall {r['wall_ms_p50']:.1f} ms p50, {r['wall_ms_mean']:.1f} ms mean, "
        f"{r['wall_ms_max']:.1f} ms max per scrape; server CPU {r['cpu_us_per_scrape']:.0f} us "
        f"per scrape ({r['cpu_us_per_scrape_raw']:.0f} before taking off the idle "
        f"{r['idle_cpu_share']:.1%})\n"
        f"  payload {r['payload_bytes'] / 1024:.0f} KiB, {r['series']} samples, "
        f"{r['multiprocess_files']} files in the multiprocess directory, "
        f"{r['workers_with_traffic']} of {r['workers']} workers served traffic first"
    )
