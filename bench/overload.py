"""`python -m bench.overload` (`make bench-overload`): the knee, and what shedding buys.

One worker (real gunicorn, ``python -m app.serve``), single-row ``/predict``, wrk pinned to the
last core (bench's driver and Lua script):

1. Shedding off (a 10 s threshold): wrk at 1, 2, 4, ... connections; the knee is the first
   count whose p99 exceeds twice the 1-connection p99.
2. At 4x the knee, shedding off and at the shipped threshold: goodput (200s a second) and the
   p99 of admitted (200) requests against the unloaded (1-connection) p99. These runs use the
   closed-loop client of tests/support, which times each answer by status (wrk's histogram
   mixes the fast 503s in).

Writes ``.run/bench/overload.json``. Only 127.0.0.1; every server it starts, it stops.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from app.settings import OverloadSettings
from bench.wrk import command, parse, write_script
from tests.support.closed_loop import run_load
from tests.support.processes import ROOT, Server, gunicorn

OUT = ROOT / ".run" / "bench" / "overload.json"
ROW = json.dumps({"age": 30, "signup_month": "June"}).encode()
CONNECTIONS = (1, 2, 4, 8, 16, 32, 64)
SWEEP_SECONDS = 4
LOAD_SECONDS = 5
QUIET = {"GLASSBOX_LOG_SAMPLE_RATIO": "0", "GLASSBOX_TRACING_ENABLED": "false"}
NO_SHEDDING = {**QUIET, "GLASSBOX_SHED_LAG_SECONDS": "10"}


def p99_ms(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2)


def sweep(server: Server, work: Path, wrk_cpu: str) -> list[dict[str, Any]]:
    (work / "bodies").write_bytes(ROW + b"\n")
    script = write_script(work / "bodies", work / "times", work / "bench.lua")
    rows = []
    for connections in CONNECTIONS:
        argv = command(f"{server.url}/predict", connections, SWEEP_SECONDS, script, wrk_cpu)
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
        result = parse(done.stdout, work / "times")
        rows.append({
            "connections": connections, "rps": round(result.rps),
            "p50_ms": result.latency_us["p50"] / 1000, "p99_ms": result.latency_us["p99"] / 1000,
            "not_200": result.not_200,
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def loaded(server: Server, connections: int) -> dict[str, Any]:
    result = run_load(server.port, "/predict", ROW, connections, LOAD_SECONDS)
    return {
        "connections": connections,
        "statuses": dict(result.statuses),
        "goodput_rps": round(result.statuses[200] / LOAD_SECONDS),
        "admitted_p99_ms": p99_ms(result.latencies_s.get(200, [])),
        "errors": result.errors,
    }


def main() -> None:
    wrk_cpu = str(max(os.sched_getaffinity(0)))
    threshold = OverloadSettings().shed_lag_seconds
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with gunicorn(work / "off", workers=1, env=NO_SHEDDING) as server:
            rows = sweep(server, work, wrk_cpu)
            unloaded = rows[0]["p99_ms"]
            knee = next((r["connections"] for r in rows if r["p99_ms"] > 2 * unloaded), None)
            knee = knee or CONNECTIONS[-1]
            unloaded_client = loaded(server, 1)
            without = loaded(server, 4 * knee)
        with gunicorn(work / "on", workers=1, env=QUIET) as server:
            with_shedding = loaded(server, 4 * knee)
    report = {
        "sweep": rows, "knee_connections": knee, "unloaded_p99_ms": unloaded,
        "shed_threshold_seconds": threshold, "unloaded_closed_loop": unloaded_client,
        "at_4x_knee": {"without_shedding": without, "with_shedding": with_shedding},
    }  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["at_4x_knee"], indent=2))
    print(f"knee: {knee} connections; unloaded p99 {unloaded} ms; wrote {OUT}")


if __name__ == "__main__":
    main()
