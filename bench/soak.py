"""`python -m bench.soak` (`make bench-soak`, ~6 minutes): does a worker's memory climb under
steady load? Issue 29: RSS slope under 1 MiB/min after warm-up, with full telemetry.

One server: ``glassbox-full`` (configs.FULL_TELEMETRY, the compiled engine, spans exported to
the bench's OTLP receiver on the load core), 1 worker pinned to the server core, its answers
checked against the raw model before and after, as every bench server. The load is single rows
at ``--connections`` (16: moderate, under the shedding point) in back-to-back wrk runs of
``--sample-s`` seconds (the runner's timed runs: any error fails the soak, and a worker that
died or was replaced too) for ``--minutes``; after each run, once the server is idle (a
fraction of a second), each worker's VmRSS is read. The samples of the first
``--warmup-minutes`` (allocator arenas, caches, the drift window and the span queue filling)
are left out; over the rest each worker's RSS in MiB against the minutes since the load began
gets a least-squares line, and its slope is the figure: under ``LIMIT_MIB_PER_MIN`` for every
worker, or the soak fails (exit 3). Fewer than ``MIN_SAMPLES`` samples after the warm-up
cannot make a slope (exit 2).

Writes ``.run/bench/soak.json``: every run (rps, CPU, RSS) and the fit.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.model.predictor import Predictor
from bench import environment, report, runner, server, session, traces, workload
from bench.configs import CONFIGS, FULL, MODEL_DIR, SINGLE
from bench.runner import Cell

OUT = server.ROOT / ".run" / "bench" / "soak.json"
LIMIT_MIB_PER_MIN = 1.0
MIN_SAMPLES = 3
MINUTES = 5.0
WARMUP_MINUTES = 1.0
SAMPLE_S = 5.0
CONNECTIONS = 16


def after_warmup(
    samples: list[tuple[float, float]], warmup_min: float
) -> list[tuple[float, float]]:
    """The (minute, MiB) samples taken after the warm-up."""
    return [(t, mib) for t, mib in samples if t >= warmup_min]


def slope_mib_per_min(samples: list[tuple[float, float]]) -> float:
    """The least-squares slope of MiB against minutes; NaN with fewer than MIN_SAMPLES samples
    or no spread in time."""
    if len(samples) < MIN_SAMPLES or len({t for t, _ in samples}) < 2:
        return math.nan
    minutes, mib = zip(*samples, strict=True)
    return statistics.linear_regression(minutes, mib).slope


def verdict(slopes: dict[int, float], limit: float = LIMIT_MIB_PER_MIN) -> str:
    """``met`` when every worker's slope is under ``limit``; ``NOT met``; or ``invalid`` when a
    worker has no slope (too few samples after the warm-up)."""
    if not slopes or any(math.isnan(s) for s in slopes.values()):
        return "invalid"
    return "met" if all(s < limit for s in slopes.values()) else "NOT met"


def samples_by_worker(runs: list[runner.Run], start: float) -> dict[int, list[tuple[float, float]]]:
    """Each worker's (minutes since ``start``, RSS MiB) after every run that has one."""
    out: dict[int, list[tuple[float, float]]] = {}
    for run in runs:
        for pid, kib in (run.rss_kib or {}).items():
            out.setdefault(pid, []).append(((run.wrk_end - start) / 60, kib / 1024))
    return out


def soak_plan(
    bench: runner.Bench, minutes: float, sample_s: float, connections: int, warmup_s: int
) -> tuple[list[runner.Run], float]:
    """Back-to-back timed runs for ``minutes``; returns them and when the load began."""
    config = next(iter(bench.servers.values())).config
    cell = Cell(SINGLE.name, connections)
    margin = runner.start_margin(connections, bench.warmup(config, cell, warmup_s))
    window_s = max(1.0, sample_s - margin - runner.END_MARGIN_S)
    runs: list[runner.Run] = []
    start = time.monotonic()
    while time.monotonic() - start < minutes * 60:
        run = bench.timed(len(runs), config, cell, margin, window_s)
        runs.append(run)
        if run.error:
            bench.log(f"  run {len(runs)}: FAILED {run.error}")
            break
        rss = ", ".join(f"{kib / 1024:.1f}" for kib in (run.rss_kib or {}).values())
        bench.log(
            f"  {(run.wrk_end - start) / 60:5.2f} min  {run.rps:7.1f} rps  "
            f"{run.cpu_us_per_request:5.0f} us CPU/req  RSS {rss} MiB"
        )
    return runs, start


def table(fit: dict[str, Any]) -> str:
    lines = [
        f"RSS under steady load ({FULL}, {SINGLE.name} row, {fit['connections']} connections, "
        f"{fit['minutes']:g} min; the first {fit['warmup_minutes']:g} min left out of the fit):"
    ]
    for pid, w in fit["workers"].items():
        lines.append(
            f"  worker {pid}: {w['first_mib']:.1f} MiB at the first sample, {w['last_mib']:.1f} "
            f"at the last; slope after warm-up {w['slope_mib_per_min']:+.3f} MiB/min over "
            f"{w['samples']} samples"
        )
    lines.append(
        f"  issue 29: RSS slope < {fit['limit_mib_per_min']:g} MiB/min after warm-up: "
        f"{fit['verdict']}"
    )
    return "\n".join(lines)


def fit_runs(runs: list[runner.Run], start: float, args: argparse.Namespace) -> dict[str, Any]:
    workers: dict[int, dict[str, Any]] = {}
    slopes: dict[int, float] = {}
    for pid, samples in samples_by_worker(runs, start).items():
        kept = after_warmup(samples, args.warmup_minutes)
        slopes[pid] = slope_mib_per_min(kept)
        workers[pid] = {
            "samples": len(kept),
            "first_mib": samples[0][1],
            "last_mib": samples[-1][1],
            "slope_mib_per_min": slopes[pid],
            "series": samples,
        }
    return {
        "minutes": args.minutes,
        "warmup_minutes": args.warmup_minutes,
        "connections": args.connections,
        "limit_mib_per_min": LIMIT_MIB_PER_MIN,
        "verdict": verdict(slopes),
        "workers": workers,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=MINUTES, help=f"default {MINUTES:g}")
    p.add_argument(
        "--warmup-minutes", type=float, default=WARMUP_MINUTES,
        help=f"left out of the fit (default {WARMUP_MINUTES:g})",
    )  # fmt: skip
    p.add_argument(
        "--sample-s", type=float, default=SAMPLE_S,
        help=f"seconds of each wrk run, RSS read after each (default {SAMPLE_S:g})",
    )  # fmt: skip
    p.add_argument("--connections", type=int, default=CONNECTIONS)
    p.add_argument("--warmup", type=int, default=2, help="seconds of the discarded warm-up run")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT, help=f"default {OUT}")
    args = p.parse_args(argv)
    (full,) = (c for c in CONFIGS if c.name == FULL)
    configs = (replace(full, endpoints=(SINGLE.name,), connections=None),)
    env = environment.describe()
    print(environment.machine_line(env), flush=True)
    try:
        session.build_engine(configs)
    except server.ServerError as exc:
        print(f"bench.soak: {exc}", file=sys.stderr)
        return 1
    load = workload.build(Predictor.load(MODEL_DIR))
    os.sched_setaffinity(0, {args.load_cpu})  # this process waits and reads /proc only
    started: list[float] = []

    def plan(bench: runner.Bench) -> list[runner.Run]:
        runs, start = soak_plan(bench, args.minutes, args.sample_s, args.connections, args.warmup)
        started.append(start)
        return runs

    with tempfile.TemporaryDirectory(prefix="glassbox-soak-", dir=server.log_root()) as logs:
        try:
            measured = session.measure(
                configs, load, Path(logs), print, args.server_cpu, args.load_cpu, plan
            )
        except (server.ServerError, workload.WrongAnswerError) as exc:
            print(f"bench.soak: FAILED before or after the load: {exc}", file=sys.stderr)
            return 2
    fit = fit_runs(measured.runs, started[0], args)
    print()
    print(table(fit))
    print(report.settings_line(full, args.load_cpu))
    if measured.spans:
        print(traces.table(measured.spans, measured.sink_cpu_s))
    problems = traces.problems(measured.spans)
    for problem in problems:
        print(f"WARNING: {problem}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(
        args.out,
        {
            **env,
            "settings": {k: v for k, v in vars(args).items() if k != "out"},
            "fit": fit,
            "configs": measured.configs,
            "runs": [r.as_dict() for r in measured.runs],
            "spans": measured.spans,
            "warnings": problems,
        },
    )
    print(f"bench.soak: wrote {args.out}")
    if any(r.error for r in measured.runs):
        return 1
    return {"met": 0, "NOT met": 3}.get(fit["verdict"], 2)


if __name__ == "__main__":
    sys.exit(main())
