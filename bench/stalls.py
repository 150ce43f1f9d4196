"""Issue 29's tail, by cause: what blocks a worker's event loop, how long and how often, with
full telemetry against the bare reference over the same kind of window.

``python -m bench.stalls [--duration 20] [--connections 16 64] [--rounds 1] [--env K=V ...]``
starts the OTLP receiver (``otlp_sink.py``) and wrk on core 1, and two servers, each run alone
on core 0 (the idle one parked on core 1): the service with issue 29's full telemetry (every
request's line, log sampling 1.0, metrics and drift on, tracing parent-based 0.1 exported to the
receiver, the compiled engine; ``--env`` adds or overrides its variables) and the bare reference.
Both run ``stalls_probe.py`` as their gunicorn config: their own config plus probes that log each
event that takes time from the loop (collections, span exports, drift ticks, log flushes, the
lifespan's periodic tasks, late wakes of a 2 ms loop-lag probe). Before any load, it times the
first requests after readiness one by one (the cold paths) against the same requests later.

Per run it prints, for each kind of event in wrk's window: how many, how many of 2 ms or more and
of 5 ms or more, the longest, their total, and per second; beside wrk's p99, p99.9 and max, and
the gaps of 10 ms or more in the stream of completed responses (a stall the client saw). The
figures of the events are robust to a shared CPU; wrk's are not. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import itertools
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from app.model.predictor import Predictor
from bench import otlp_sink, server, workload
from bench.bare_app import MODEL_DIR
from bench.configs import BARE, COMPILED, FULL_TELEMETRY, SINGLE, Config, service
from bench.server import CLK_TCK, Server, core_ticks
from bench.traces import scrape
from bench.wrk import command, parse, write_script
from tests.support.metrics import value

SERVER_CPU, LOAD_CPU = "0", "1"
PROBE_CONFIG = "bench/stalls_probe.py"
THRESHOLDS_MS = (2.0, 5.0, 10.0, 20.0)
GAP_MS = 10.0
COLD_REQUESTS = 10
WARMUP_S = 3


def full_telemetry(env: dict[str, str]) -> Config:
    """Issue 29's "full telemetry": log sampling 1.0 and metrics, drift and tracing on (the
    defaults, set explicitly), parent-based 0.1 exported, the compiled engine."""
    base = service(
        "full", "issue 29's full telemetry, drift on, exported",
        env={**FULL_TELEMETRY, **env}, otlp=True, engine=COMPILED,
    )  # fmt: skip
    return _probed(base, "gunicorn.conf.py", service=True)


def _probed(config: Config, base_config: str, service: bool) -> Config:
    args = list(config.gunicorn_args)
    args[args.index("--config") + 1] = PROBE_CONFIG
    env = {**config.env, "BENCH_STALLS_BASE": base_config}
    if service:
        env["BENCH_STALLS_SERVICE"] = "1"
    return dataclasses.replace(config, gunicorn_args=tuple(args), env=MappingProxyType(env))


def bare() -> Config:
    return _probed(BARE, "bench/gunicorn_defaults.py", service=False)


@dataclasses.dataclass(frozen=True)
class Event:
    at: float
    kind: str
    wall_ms: float
    cpu_ms: float
    detail: str


def read_events(path: Path) -> list[Event]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        at, kind, wall, cpu, detail = line.split(" ", 4)
        out.append(Event(float(at), kind, float(wall), float(cpu), detail))
    return out


def _blocked_ms(event: Event) -> float:
    """What an event took from the loop: its thread's CPU (on the loop, the time it was
    blocked; on another thread of the pinned worker, the core's time the loop did not have);
    for a late wake of the lag probe, the lag."""
    return event.wall_ms if event.kind == "lag" else event.cpu_ms


def summarise_events(events: Sequence[Event], window_s: float) -> dict[str, dict[str, Any]]:
    kinds: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        kinds[e.kind].append(e)
    out = {}
    for kind, members in sorted(kinds.items()):
        blocked = [_blocked_ms(e) for e in members]
        row: dict[str, Any] = {
            "count": len(members),
            "per_s": len(members) / window_s,
            **{f"ge_{t:g}ms": sum(b >= t for b in blocked) for t in THRESHOLDS_MS},
            "max_ms": max(blocked),
            "total_ms": sum(blocked),
            "wall_max_ms": max(e.wall_ms for e in members),
        }
        if kind == "export":
            sizes = [int(e.detail) for e in members]
            row["spans"] = sum(sizes)
            row["batch_max"] = max(sizes)
        if kind == "periodic":
            row["names"] = sorted({e.detail for e in members})
        out[kind] = row
    return out


def completion_gaps(completions: list[float], start: float, end: float) -> list[float]:
    """Gaps (ms) of ``GAP_MS`` or more between consecutive responses inside [start, end]."""
    times = sorted(t for t in completions if start <= t <= end)
    return [(b - a) * 1e3 for a, b in itertools.pairwise(times) if b - a >= GAP_MS / 1e3]


def cold_requests(srv: Server, body: bytes, count: int) -> list[float]:
    """The latencies (ms) of ``count`` requests one after the other on one connection."""
    connection = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    out = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", SINGLE.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            out.append((time.perf_counter() - started) * 1e3)
            if response.status != 200:
                raise server.ServerError(f"{srv.config.name}: cold request {response.status}")
    finally:
        connection.close()
    return out


class Harness:
    def __init__(self, load: workload.Workload, workdir: Path, duration_s: int) -> None:
        self.workdir = workdir
        self.duration_s = duration_s
        bodies = workdir / "bodies.txt"
        bodies.write_bytes(load.lines(SINGLE.name))
        self.times = workdir / "times.txt"
        self.script = write_script(bodies, self.times, workdir / "wrk.lua")
        self.first_body = load.bodies[SINGLE.name][0].data

    def run(self, srv: Server, connections: int, duration_s: int) -> dict[str, Any]:
        srv.move_to(SERVER_CPU)
        log = Path(srv.env_overrides["BENCH_STALLS_LOG"])
        before_events = len(read_events(log))
        argv = command(srv.url(SINGLE.path), connections, duration_s, self.script, LOAD_CPU)
        self.times.unlink(missing_ok=True)
        busy0, ticks0 = core_ticks(int(SERVER_CPU))[0], srv.cpu_ticks()
        start = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
        end = time.monotonic()
        busy1, ticks1 = core_ticks(int(SERVER_CPU))[0], srv.cpu_ticks()
        srv.last_load_end = end
        srv.wait_idle()
        srv.move_to(LOAD_CPU)
        result = parse(done.stdout, self.times)
        srv.check_unchanged()
        # Skip wrk's first second (connections opening), as the events are counted from it.
        window_start = start + 1.0
        events = [e for e in read_events(log)[before_events:] if window_start <= e.at <= end]
        window_s = end - window_start
        server_s = (ticks1 - ticks0) / CLK_TCK
        gaps = completion_gaps(result.completions, window_start, end)
        return {
            "config": srv.config.name,
            "connections": connections,
            "requests": result.requests,
            "errors": result.error_total,
            "rps": result.rps,
            "p50_ms": result.latency_us["p50"] / 1e3,
            "p99_ms": result.latency_us["p99"] / 1e3,
            "p999_ms": result.latency_us["p999"] / 1e3,
            "max_ms": result.latency_us["max"] / 1e3,
            "cpu_us_per_request": server_s / max(result.requests, 1) * 1e6,
            "core_other": max(0.0, (busy1 - busy0) / CLK_TCK - server_s) / (end - start),
            "gaps": {"count": len(gaps), "max_ms": max(gaps, default=0.0)},
            "window_s": window_s,
            "events": summarise_events(events, window_s),
        }


def _table(runs: list[dict[str, Any]]) -> str:
    lines = []
    for r in runs:
        lines.append(
            f"{r['config']} @{r['connections']}: {r['requests']} req, {r['rps']:.0f} rps, "
            f"p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} p99.9 {r['p999_ms']:.1f} max "
            f"{r['max_ms']:.1f} ms, {r['cpu_us_per_request']:.0f} us/req, others on the core "
            f"{r['core_other']:.0%}, response gaps >= {GAP_MS:g} ms: {r['gaps']['count']} "
            f"(longest {r['gaps']['max_ms']:.1f}), errors {r['errors']}"
        )
        lines.append(
            f"  {'event':10} {'count':>7} {'/s':>7} "
            + " ".join(f"{'>=' + format(t, 'g') + 'ms':>7}" for t in THRESHOLDS_MS)
            + f" {'max ms':>7} {'total ms':>9}  detail"
        )
        for kind, e in r["events"].items():
            detail = ""
            if kind == "export":
                detail = f"{e['spans']} spans, largest batch {e['batch_max']}, wall max " + (
                    f"{e['wall_max_ms']:.1f} ms"
                )
            elif kind in ("drift", "flush") or kind.startswith("gc"):
                detail = f"wall max {e['wall_max_ms']:.1f} ms"
            elif kind == "periodic":
                detail = ", ".join(e["names"])
            lines.append(
                f"  {kind:10} {e['count']:7d} {e['per_s']:7.1f} "
                + " ".join(f"{e[f'ge_{t:g}ms']:7d}" for t in THRESHOLDS_MS)
                + f" {e['max_ms']:7.2f} {e['total_ms']:9.1f}  {detail}"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stalls", description=__doc__)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per run")
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 16])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the service")
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--out", type=Path, help="write the runs as JSON here")
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    load = workload.build(Predictor.load(MODEL_DIR))
    configs = [full_telemetry(env)] + ([] if args.skip_bare else [bare()])
    runs: list[dict[str, Any]] = []
    cold: dict[str, dict[str, list[float]]] = {}
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="glassbox-stalls-", dir=server.log_root()) as tmp:
        workdir = Path(tmp)
        harness = Harness(load, workdir, args.duration)
        sink = otlp_sink.start(LOAD_CPU)
        try:
            for config in configs:
                log = workdir / f"{config.name}.events"
                config = dataclasses.replace(
                    config, env=MappingProxyType({**config.env, "BENCH_STALLS_LOG": str(log)})
                )
                srv = server.start(config, workdir, SERVER_CPU, workdir, sink.url)
                servers.append(srv)
                srv.wait_ready()
                first = cold_requests(srv, harness.first_body, COLD_REQUESTS)
                harness.run(srv, 16, WARMUP_S)
                later = cold_requests(srv, harness.first_body, COLD_REQUESTS)
                cold[config.name] = {"first_ms": first, "after_warmup_ms": later}
                print(
                    f"{config.name}: first {COLD_REQUESTS} requests after readiness (ms): "
                    + " ".join(f"{v:.2f}" for v in first)
                    + "; after a warm-up: " + " ".join(f"{v:.2f}" for v in later),
                    flush=True,
                )  # fmt: skip
                srv.move_to(LOAD_CPU)
            for _ in range(args.rounds):
                for connections in args.connections:
                    for srv in servers:
                        run = harness.run(srv, connections, args.duration)
                        runs.append(run)
                        print(_table([run]), flush=True)
            time.sleep(6.0)  # the last spans leave within one schedule delay (5 s)
            text = scrape(servers[0])
            spans = {
                "exported": value(text, "glassbox_trace_spans_exported_total"),
                "dropped": value(text, "glassbox_trace_spans_dropped_total"),
                "received": sink.report()["spans"],
            }
        finally:
            server.stop_all(servers)
            sink.stop()
    doc = {"env": env, "cold": cold, "runs": runs, "sink": spans}
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1))
    print(f"spans: {spans}", flush=True)
    return 0 if all(not math.isnan(r["rps"]) for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
