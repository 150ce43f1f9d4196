"""`python -m bench.overload` (`make bench-overload`, and the last step of `make bench`): the
knee, what shedding buys in a spike, and /healthz while max-size batches saturate the worker.

One worker per server (real gunicorn, ``python -m app.serve``), pinned to the first core; the
load on the last (wrk with bench's Lua script; the open-loop driver of ``bench/open_loop.py``
in this process). Two servers run side by side, one with shedding off (a 10 s threshold) and
one as shipped, and take turns, so a busy neighbour on a shared machine weighs on both:

1. The knee. wrk at 1, 2, 4, ... 64 connections on single-row ``/predict``, shedding off; the
   knee is the first count whose p99 exceeds twice the 1-connection p99; past it throughput no
   longer rises, and the most the sweep served is the worker's capacity. The event-loop lag
   (its per-second peak, scraped during each run) is printed beside each count: it is what the
   shed threshold is compared with.
2. The unloaded p99: the shipped server at a tenth of the capacity, by the open-loop driver.
3. Spikes: open-loop arrivals at 2x and at 4x the capacity for a few seconds, each
   client giving up after 1 s, against each server in turn, ``ROUNDS`` times. Goodput is the
   200s answered within the client's timeout per second of the spike (and, stricter, those
   within the 0.1 s latency SLO); the admitted (200) p99 is set against the unloaded p99. A
   4x-the-knee closed loop (16 connections) would be no spike at all: it keeps a queue of 16
   requests, ~8 ms, which no sane threshold sheds.
4. Closed loops against each server in turn, ``ROUNDS`` times: wrk at 4x the knee's
   connections (the issue's goodput point: a closed loop never offers more than is served, so
   there a queue of that many requests is all there is to shed) and at 64, each client
   sending its next request as soon as it has an answer, 503 or not (a client that ignores
   Retry-After: the worst case for shedding). A third server sheds as shipped but has the
   ``protocol_shed`` fast path off (the app's admission layer refuses). From the server's CPU
   over each run, the price of a refusal: a shedding server's CPU less its 200s at the
   non-shedding one's CPU per 200, per 503.
5. Liveness at saturation: 1000-row batches from 8 closed-loop connections for a few seconds
   against each server (with shedding off every batch runs: the worst case) while /healthz is
   probed every 50 ms: its p50, p99 and max, from which the README sets the liveness probe's
   budget.

Writes ``.run/bench/overload.json``. Only 127.0.0.1; every server it starts, it stops.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2

from app.fast_paths import without
from app.settings import OverloadSettings, Settings
from bench.open_loop import SpikeResult, spike
from bench.server import CLK_TCK, core_ticks, cpu_ticks
from bench.wrk import command, parse, write_script
from tests.support.closed_loop import run_load
from tests.support.metrics import value
from tests.support.processes import ROOT, Server, gunicorn

OUT = ROOT / ".run" / "bench" / "overload.json"
ROW = json.dumps({"age": 30, "signup_month": "June"}).encode()
BATCH = json.dumps({"rows": [{"age": 30, "signup_month": "June"}] * 1000}).encode()
CONNECTIONS = (1, 2, 4, 8, 16, 32, 64)
SWEEP_SECONDS = 4
SPIKES = (2, 4)  # times the capacity
SPIKE_SECONDS = 3.0
ROUNDS = 3
CLOSED_SECONDS = 4
CLOSED_MAX_CONNECTIONS = 64
CLIENT_TIMEOUT_S = 1.0
UNLOADED_SHARE = 0.1  # of the capacity, for the unloaded p99
UNLOADED_SECONDS = 4.0
BATCH_CONNECTIONS = 8
BATCH_SECONDS = 5.0
PROBE_EVERY_S = 0.05
SLO_S = Settings().latency_slo_seconds
QUIET = {"GLASSBOX_LOG_SAMPLE_RATIO": "0", "GLASSBOX_TRACING_ENABLED": "false"}
NO_SHEDDING = {**QUIET, "GLASSBOX_SHED_LAG_SECONDS": "10"}
MODES = ("without_shedding", "with_shedding")
# A third server for the closed loops: shedding as shipped, but refused by the app's admission
# layer rather than by the HTTP protocol (the protocol_shed fast path off): what it saves.
REFUSED_IN_APP = "with_shedding_refused_in_the_app"
# The driver fell this far behind its schedule: it could not offer the rate asked of it.
DRIVER_BEHIND_WARN_MS = 100.0


def percentile_ms(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile of ``values`` (seconds), in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


@contextmanager
def worker(work: Path, env: dict[str, str], cpu: int) -> Iterator[Server]:
    """One gunicorn worker (and its master) on ``cpu``: started from this thread while it is
    pinned there, so every process and thread of the server inherits the core."""
    load_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        started = gunicorn(work, workers=1, env=env, wait=False)
        server = started.__enter__()
    finally:
        os.sched_setaffinity(0, load_cpus)
    try:
        server.wait_ready(workers=1)
        yield server
    finally:
        started.__exit__(None, None, None)


def scrape(server: Server) -> str:
    return httpx2.get(f"{server.url}/metrics", timeout=30).text


def settle(server: Server, timeout_s: float = 20.0) -> None:
    """Until the worker is idle again: after a spike it may still be answering requests whose
    clients are long gone (a single row cannot tell, README: Overload)."""
    deadline = time.monotonic() + timeout_s
    with httpx2.Client(timeout=timeout_s) as client:
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            client.get(f"{server.url}/healthz")
            if time.perf_counter() - sent < 0.02:
                return
            time.sleep(0.1)


def sweep(server: Server, work: Path, wrk_cpu: str) -> list[dict[str, Any]]:
    (work / "bodies").write_bytes(ROW + b"\n")
    script = write_script(work / "bodies", work / "times", work / "bench.lua")
    rows = []
    for connections in CONNECTIONS:
        argv = command(f"{server.url}/predict", connections, SWEEP_SECONDS, script, wrk_cpu)
        with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as wrk:
            lags = []
            for _ in range(SWEEP_SECONDS - 1):
                time.sleep(1.0)
                lags.append(value(scrape(server), "glassbox_event_loop_lag_seconds"))
            stdout, _ = wrk.communicate(timeout=60)
        result = parse(stdout, work / "times")
        rows.append({
            "connections": connections, "rps": round(result.rps),
            "p50_ms": result.latency_us["p50"] / 1000, "p99_ms": result.latency_us["p99"] / 1000,
            "lag_peak_ms": round(max(lags) * 1000, 1), "not_200": result.not_200,
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
        settle(server)
    return rows


class CoreShare:
    """How much of the server core something else used over a run: the machine may be shared
    (as ``make bench`` reports it, from /proc/stat, steal included, less both servers' own CPU)."""

    def __init__(self, cpu: int, servers: tuple[Server, ...]) -> None:
        self.cpu = cpu
        self.pids = [pid for s in servers for pid in (s.master_pid, *s.worker_pids())]

    def __enter__(self) -> CoreShare:
        self.started = time.monotonic()
        self.busy, self.steal = core_ticks(self.cpu)
        self.ours = cpu_ticks(self.pids)
        self.others = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        busy, steal = core_ticks(self.cpu)
        elapsed_ticks = (time.monotonic() - self.started) * CLK_TCK
        others = (busy - self.busy) + (steal - self.steal) - (cpu_ticks(self.pids) - self.ours)
        self.others = round(max(others, 0) / elapsed_ticks, 2)


def spike_figures(result: SpikeResult, others: float | None = None) -> dict[str, Any]:
    seconds = result.seconds
    admitted = result.latencies_s.get(200, [])
    return {
        "offered_rps": round(result.offered / seconds),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "timeouts": result.timeouts, "errors": result.errors,
        "goodput_rps": round(result.statuses[200] / seconds),
        "within_slo_rps": round(result.answered_within(200, SLO_S) / seconds),
        # Every client that got an answer in time, a 503 to retry elsewhere included.
        "answered_rps": round(sum(result.statuses.values()) / seconds),
        "admitted_p50_ms": percentile_ms(admitted, 0.5),
        "admitted_p99_ms": percentile_ms(admitted, 0.99),
        "refused_p99_ms": percentile_ms(result.latencies_s.get(503, []), 0.99),
        "driver_behind_ms": round(result.behind_s * 1000, 1),
        "server_core_used_by_others": others,
    }  # fmt: skip


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r[key] is not None]
    return round(statistics.median(values), 1) if values else None


def spikes(off: Server, on: Server, capacity: int, cpu: int) -> list[dict[str, Any]]:
    out = []
    for times in SPIKES:
        rate = times * capacity
        runs: dict[str, list[dict[str, Any]]] = {"without_shedding": [], "with_shedding": []}
        for round_ in range(ROUNDS):
            for name, server in (("without_shedding", off), ("with_shedding", on)):
                with CoreShare(cpu, (off, on)) as share:
                    result = spike(
                        server.port, "/predict", ROW, rate, SPIKE_SECONDS, CLIENT_TIMEOUT_S
                    )
                runs[name].append(spike_figures(result, share.others))
                print(f"{times}x capacity ({rate} rps), round {round_ + 1}, {name}: "
                      f"{json.dumps(runs[name][-1])}", flush=True)  # fmt: skip
                settle(server)
        out.append({
            "times_capacity": times, "rate_rps": rate, "seconds": SPIKE_SECONDS,
            "client_timeout_s": CLIENT_TIMEOUT_S,
            **{name: {"median": {key: median_of(r, key) for key in (
                "goodput_rps", "within_slo_rps", "answered_rps", "timeouts", "admitted_p99_ms",
                "refused_p99_ms", "server_core_used_by_others")}, "runs": r}
               for name, r in runs.items()},
        })  # fmt: skip
    return out


def closed_loops(servers: dict[str, Server], knee: int, work: Path, wrk_cpu: str
                 ) -> list[dict[str, Any]]:  # fmt: skip
    script = work / "bench.lua"  # written by the sweep
    out = []
    for connections in (4 * knee, CLOSED_MAX_CONNECTIONS):
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for _ in range(ROUNDS):
            for name, server in servers.items():
                pids = [server.master_pid, *server.worker_pids()]
                argv = command(f"{server.url}/predict", connections, CLOSED_SECONDS, script,
                               wrk_cpu)  # fmt: skip
                before = cpu_ticks(pids)
                stdout = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
                cpu_s = (cpu_ticks(pids) - before) / CLK_TCK
                result = parse(stdout, work / "times")
                runs[name].append({
                    "ok": result.requests - result.not_200, "shed": result.not_200,
                    "cpu_s": cpu_s, "p99_ms": result.latency_us["p99"] / 1000,
                })  # fmt: skip
                settle(server)
        row: dict[str, Any] = {"connections": connections, "seconds": CLOSED_SECONDS}
        for name in servers:
            r = runs[name]
            row[name] = {
                "goodput_rps": round(statistics.median(x["ok"] for x in r) / CLOSED_SECONDS),
                "shed_rps": round(statistics.median(x["shed"] for x in r) / CLOSED_SECONDS),
                "p99_ms": round(statistics.median(x["p99_ms"] for x in r), 1),
                "runs": r,
            }
        served_us = [x["cpu_s"] / x["ok"] * 1e6 for x in runs["without_shedding"] if x["ok"]]
        row["served_cpu_us"] = round(statistics.median(served_us), 1) if served_us else None
        row["refused_cpu_us"] = refusal_cpu_us(runs["without_shedding"], runs["with_shedding"])
        row["refused_in_app_cpu_us"] = refusal_cpu_us(
            runs["without_shedding"], runs[REFUSED_IN_APP]
        )
        out.append(row)
        served = ", ".join(
            f"{name}: {row[name]['goodput_rps']} 200/s, {row[name]['shed_rps']} 503/s"
            for name in servers
        )
        print(f"closed loop, {connections} connections: {served}; CPU µs a 200 "
              f"{row['served_cpu_us']}, a refusal {row['refused_cpu_us']} (in the app "
              f"{row['refused_in_app_cpu_us']})", flush=True)  # fmt: skip
    return out


def refusal_cpu_us(off: list[dict[str, Any]], on: list[dict[str, Any]]) -> float | None:
    """Per round: the shedding server's CPU less its 200s at the other server's CPU per 200,
    per 503; the median over rounds."""
    costs = [(b["cpu_s"] - b["ok"] * a["cpu_s"] / a["ok"]) / b["shed"]
             for a, b in zip(off, on, strict=True) if b["shed"] and a["ok"]]  # fmt: skip
    return round(statistics.median(costs) * 1e6, 1) if costs else None


def healthz_at_saturation(server: Server) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx2.Client(timeout=CLIENT_TIMEOUT_S) as client:
            while not stop.wait(PROBE_EVERY_S):
                sent = time.perf_counter()
                try:
                    status = client.get(f"{server.url}/healthz").status_code
                except httpx2.HTTPError as exc:
                    failures.append(type(exc).__name__)
                    continue
                latencies.append(time.perf_counter() - sent)
                if status != 200:
                    failures.append(str(status))

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        load = run_load(server.port, "/predict/batch", BATCH, BATCH_CONNECTIONS, BATCH_SECONDS)
    finally:
        stop.set()
        prober.join()
    return {
        "batch_connections": BATCH_CONNECTIONS, "batch_rows": 1000,
        "batches_per_s": round(load.statuses[200] / BATCH_SECONDS, 1),
        "batch_statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "probes": len(latencies) + len(failures), "failures": failures,
        "p50_ms": percentile_ms(latencies, 0.5), "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": percentile_ms(latencies, 1.0),
    }  # fmt: skip


def warnings(report: dict[str, Any]) -> list[str]:
    problems = []
    for row in report["spikes"]:
        for name in ("without_shedding", "with_shedding"):
            behind = max(r["driver_behind_ms"] for r in row[name]["runs"])
            if behind > DRIVER_BEHIND_WARN_MS:
                problems.append(
                    f"{row['times_capacity']}x capacity, {name}: the driver fell {behind:.0f} ms "
                    "behind its schedule (its core is busy): it offered less than asked"
                )
    for name, h in report["healthz_at_saturation"].items():
        if h["failures"]:
            problems.append(f"/healthz failed, {name}: {h['failures']}")
    return problems


def summary(report: dict[str, Any]) -> str:
    unloaded = report["unloaded"]
    lines = [
        f"knee: {report['knee_connections']} connections ({report['knee_rps']} rps); capacity "
        f"{report['capacity_rps']} rps; "
        f"unloaded p99 {unloaded['p99_ms']} ms (open loop at {unloaded['rate_rps']} rps); "
        f"shed threshold {report['shed_threshold_seconds'] * 1000:g} ms",
        "spike (medians of rounds)       goodput/s  within SLO/s  answered/s  timeouts  "
        "admitted p99 ms  refused p99 ms",
    ]
    for row in report["spikes"]:
        for name in ("without_shedding", "with_shedding"):
            m = {key: "-" if v is None else f"{v:g}" for key, v in row[name]["median"].items()}
            label = f"{row['times_capacity']}x ({row['rate_rps']} rps) {name.replace('_', ' ')}"
            lines.append(f"{label:32}{m['goodput_rps']:>9}  {m['within_slo_rps']:>12}  "
                         f"{m['answered_rps']:>10}  {m['timeouts']:>8}  "
                         f"{m['admitted_p99_ms']:>15}  {m['refused_p99_ms']:>14}")  # fmt: skip
    lines.append("closed loop (medians)                       200/s  503/s  p99 ms")
    for row in report["closed_loops"]:
        for name in (*MODES, REFUSED_IN_APP):
            m = row[name]
            label = f"{row['connections']} connections {name.replace('_', ' ')}"
            lines.append(f"{label:44}{m['goodput_rps']:>5}  {m['shed_rps']:>5}  "
                         f"{m['p99_ms']:>6}")  # fmt: skip
    priced = report["closed_loops"][-1]
    lines.append(f"server CPU: {priced['served_cpu_us']} µs a 200, {priced['refused_cpu_us']} µs "
                 f"a refusal by the protocol, {priced['refused_in_app_cpu_us']} µs by the app "
                 f"({priced['connections']} connections)")  # fmt: skip
    runs = [r for row in report["spikes"] for name in MODES for r in row[name]["runs"]]
    shares = [r["server_core_used_by_others"] for r in runs]
    lines.append(f"the server core used by others during the spikes: {min(shares):.0%}-"
                 f"{max(shares):.0%}")  # fmt: skip
    for name, h in report["healthz_at_saturation"].items():
        lines.append(
            f"/healthz under 1000-row batches, {name.replace('_', ' ')} ({h['batches_per_s']} "
            f"batches/s answered): {h['probes']} probes, p50 {h['p50_ms']} ms, p99 "
            f"{h['p99_ms']} ms, max {h['max_ms']} ms, {len(h['failures'])} failed"
        )
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = cpus[0], cpus[-1]
    os.sched_setaffinity(0, {load_cpu})
    threshold = OverloadSettings().shed_lag_seconds
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        work = Path(tmp)
        off = servers.enter_context(worker(work / "off", NO_SHEDDING, server_cpu))
        on = servers.enter_context(worker(work / "on", QUIET, server_cpu))
        in_app = servers.enter_context(worker(
            work / "in_app", {**QUIET, "GLASSBOX_FAST_PATHS": without("protocol_shed")},
            server_cpu,
        ))  # fmt: skip
        rows = sweep(off, work, str(load_cpu))
        unloaded_p99 = rows[0]["p99_ms"]
        knee = next((r for r in rows if r["p99_ms"] > 2 * unloaded_p99), rows[-1])
        # Past the knee throughput stops rising: the most the sweep served is the capacity (the
        # knee's own row can be a noisy neighbour's victim; the best row is less so).
        capacity = max(r["rps"] for r in rows)
        quiet = spike(
            on.port, "/predict", ROW, UNLOADED_SHARE * capacity, UNLOADED_SECONDS, CLIENT_TIMEOUT_S
        )
        settle(on)
        spiked = spikes(off, on, capacity, server_cpu)
        closed = closed_loops({"without_shedding": off, "with_shedding": on,
                               REFUSED_IN_APP: in_app}, knee["connections"], work,
                              str(load_cpu))  # fmt: skip
        healthz = {}
        for name, server in (("without_shedding", off), ("with_shedding", on)):
            print(f"/healthz while 1000-row batches saturate the worker, {name}", flush=True)
            healthz[name] = healthz_at_saturation(server)
    report: dict[str, Any] = {
        "sweep": rows, "knee_connections": knee["connections"], "knee_rps": knee["rps"],
        "capacity_rps": capacity,
        "shed_threshold_seconds": threshold,
        "unloaded": {
            "rate_rps": round(UNLOADED_SHARE * capacity), **spike_figures(quiet),
            "p99_ms": percentile_ms(quiet.latencies_s.get(200, []), 0.99),
        },
        "spikes": spiked,
        "closed_loops": closed,
        "healthz_at_saturation": healthz,
    }  # fmt: skip
    report["warnings"] = warnings(report)
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(summary(report))
    for problem in report["warnings"]:
        print(f"WARNING: {problem}")
    print(f"bench.overload: wrote {OUT} ({report['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
