"""`python -m bench`: the command line. Checks the tools, measures the raw model and the
drift recorder in-process, starts every server of the run (and the OTLP receiver), verifies
its answers, runs the plan, accounts for exported spans, measures a 3-worker /metrics scrape
(and with ``--gc`` the collector's pauses with and without gc.freeze()), prints the tables and
writes JSON and PNG. The run's rows: the default run's (``configs.DEFAULT_ROWS``), or
``--components``, ``--tails``, ``--gate``, ``--gc-only`` or ``--only``'s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from app.model.predictor import Predictor
from bench import (
    breakdown,
    drift_cost,
    environment,
    gc_pauses,
    raw_model,
    report,
    runner,
    scrape,
    server,
    session,
    traces,
    workload,
)
from bench import configs as configs_module
from bench.configs import BARE, BARE_ENGINE, BATCH, FULL, GC_CONFIGS, MODEL_DIR, SINGLE, Config

OUT_DIR = server.ROOT / ".run" / "bench"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the service against the fixed bare reference and the raw model.",
        epilog="See bench/README.md for the method and how to add a configuration.",
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument(
        "--duration", type=float, default=4.0,
        help="seconds of each measured window (default 4); wrk runs longer, see runner.py",
    )  # fmt: skip
    p.add_argument("--warmup", type=int, default=2, help="seconds of each discarded warm-up")
    p.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    p.add_argument(
        "--only", nargs="+", metavar="CONFIG",
        help="these configs (+ references) instead of the default run's",
    )  # fmt: skip
    p.add_argument(
        "--components",
        action="store_true",
        help=f"the telemetry components' rows alone (issues 5-7, 27), single row at "
        f"{configs_module.COMPONENT_CELL[1]} connections, with issues 6 and 7's targets (~6 min; "
        "make bench-components)",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, short windows")
    p.add_argument(
        "--skip-raw", action="store_true",
        help="skip the in-process measurements (raw model, drift recorder)",
    )  # fmt: skip
    p.add_argument("--skip-scrape", action="store_true", help="skip the 3-worker scrape cost")
    p.add_argument(
        "--gc", action="store_true",
        help="add the GC pauses section (gc.freeze on/off, ~3 min) after the rows",
    )  # fmt: skip
    p.add_argument(
        "--skip-gc", action="store_true",
        help="no GC section: the default (kept for the command lines in the READMEs)",
    )  # fmt: skip
    p.add_argument(
        "--gc-only",
        action="store_true",
        help="only the GC pauses section (issue 13): no plan, raw model or scrape (~2.5 min; "
        "make bench BENCH_ARGS=--gc-only)",
    )
    p.add_argument(
        "--gc-rounds",
        type=int,
        default=gc_pauses.ROUNDS,
        help=f"rounds of the GC section (default {gc_pauses.ROUNDS}, ~25 s each): more rounds "
        "watch RSS for longer",
    )
    p.add_argument(
        "--gc-window",
        type=float,
        default=gc_pauses.WINDOW_S,
        help=f"seconds of each GC round's window (default {gc_pauses.WINDOW_S:g})",
    )
    p.add_argument(
        "--tails",
        action="store_true",
        help=f"issue 29's tail rounds alone: {BARE.name}, {BARE_ENGINE.name} and {FULL}, single "
        f"row, every run >= {breakdown.TAIL_REQUESTS:,} requests (~10 min quiet; make bench-tails)",
    )
    p.add_argument(
        "--tail-requests",
        type=int,
        default=breakdown.TAIL_REQUESTS,
        help="with --tails: the requests each run is sized for (fewer only to smoke the mode: "
        f"a tail verdict still wants {breakdown.TAIL_REQUESTS:,})",
    )
    p.add_argument(
        "--gate",
        type=float,
        metavar="MIN",
        help=f"make bench-quick: {BARE.name} and {FULL} alone, single row; exit 3 when {FULL}'s "
        "rps / bare is below MIN at any connection count, or its spans are invalid",
    )
    p.add_argument("--server-cpu", type=int, default=0, help="core the servers are pinned to")
    p.add_argument("--load-cpu", type=int, default=1, help="core wrk is pinned to")
    p.add_argument("--out", type=Path, default=OUT_DIR, help=f"default {OUT_DIR}")
    p.add_argument("--list", action="store_true", help="list the configurations and exit")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 2.0, 1
        args.gc_rounds, args.gc_window = 2, 4.0
    modes = [name for name in ("gc_only", "tails", "gate", "components") if getattr(args, name)]
    if len(modes) > 1 or (modes and args.only):
        p.error(
            "--gc-only, --tails, --gate and --components each choose the rows: one, and not "
            "with --only"
        )
    if args.gc and args.skip_gc:
        p.error("--gc adds the GC section, --skip-gc leaves it out: one")
    if args.gc_only and args.skip_gc:
        p.error("--gc-only runs the GC section alone: not with --skip-gc")
    args.gc = args.gc or args.gc_only
    if args.gc_only:
        args.skip_raw = args.skip_scrape = True
    if args.tails or args.gate is not None or args.components:
        args.skip_raw = args.skip_scrape = True
        args.gc = False
    if args.components:
        args.connections = [configs_module.COMPONENT_CELL[1]]
    return args


def _configs(args: argparse.Namespace) -> tuple[Config, ...]:
    if args.gc_only:
        return ()
    if args.tails:
        return configs_module.on_endpoint(SINGLE.name, [BARE_ENGINE.name, FULL])
    if args.gate is not None:
        return configs_module.on_endpoint(SINGLE.name, [FULL])
    if args.components:
        return configs_module.component_rows()
    return configs_module.select(args.only)


def _preflight(args: argparse.Namespace) -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"missing {missing}: `make bench` installs wrk (Debian package)")
    allowed = os.sched_getaffinity(0)
    cores = {args.server_cpu, args.load_cpu}
    if len(cores) != 2 or not cores <= allowed:
        raise SystemExit(
            f"need two distinct usable cores for server ({args.server_cpu}) and load "
            f"({args.load_cpu}); this process may use {sorted(allowed)}"
        )


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the ExitStack: servers are stopped


class Progress:
    """Progress lines stamped with the seconds since the start: where the minutes go."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, message: str) -> None:
        print(f"[{self.elapsed_s:4.0f}s] {message}", flush=True)


def _run(
    args: argparse.Namespace,
    configs: tuple[Config, ...],
    load: workload.Workload,
    log_dir: Path,
    log: Progress,
    rounds: int,
    window_s: float,
    connections: tuple[int, ...],
    raw_batch: raw_model.BatchReference | None = None,
    min_requests: int = 0,
) -> session.Measured:
    """The plan's rounds on every configuration's server (session.measure); with
    ``min_requests`` every run answers at least that many (runner.window_for)."""

    def plan(bench: runner.Bench) -> list[runner.Run]:
        return runner.run_all(
            bench, configs, connections, rounds, window_s, args.warmup, min_requests
        )

    return session.measure(
        configs, load, log_dir, log, args.server_cpu, args.load_cpu, plan, raw_batch
    )


def _scrape(args: argparse.Namespace, load: workload.Workload, log_dir: Path) -> dict[str, Any]:
    try:
        return scrape.measure(load, str(args.server_cpu), str(args.load_cpu), log_dir)
    except (server.ServerError, OSError, subprocess.SubprocessError) as exc:
        return {"error": str(exc)[:2000]}


def _gc(
    args: argparse.Namespace, load: workload.Workload, log_dir: Path, log: Progress
) -> dict[str, Any]:
    """Issue 13's section: its two servers, alone on the server core, through rounds of their
    own (``gc_pauses.py``)."""
    started = time.monotonic()
    try:
        measured = _run(
            args, GC_CONFIGS, load, log_dir, log,
            args.gc_rounds, args.gc_window, gc_pauses.CONNECTIONS,
        )  # fmt: skip
    except (server.ServerError, workload.WrongAnswerError) as exc:
        return {"error": str(exc)[:2000]}
    return {
        **gc_pauses.summarise(measured.runs, measured.configs),
        "window_s": args.gc_window,
        "took_s": time.monotonic() - started,
        "servers": measured.configs,
        "runs": [r.as_dict() for r in measured.runs],
    }


def _print_sections(sections: list[str]) -> None:
    for text in sections:
        print()
        print(text)


def _list() -> None:
    """Each configuration, its cells and which run has it: the default run, the components',
    both, or neither (``--only``)."""
    groups = (("the default run", configs_module.DEFAULT_ROWS),
              ("components", configs_module.COMPONENT_ROWS))  # fmt: skip
    print(f"{'name':16} {'cells':24} {'in':28} description")
    for c in configs_module.CONFIGS:
        cells = ",".join(c.endpoints) + (f" @{list(c.connections)}" if c.connections else "")
        runs = " + ".join(name for name, rows in groups if c.name in rows) or "--only"
        print(f"{c.name:16} {cells:24} {runs:28} {c.description}")
    print("\nthe GC section (--gc adds it, --gc-only runs it alone):")
    for c in GC_CONFIGS:
        print(f"{c.name:16} {'single @[16]':24} {'--gc':28} {c.description}")


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    log = Progress()
    if args.list:
        _list()
        return 0
    configs = _configs(args)
    _preflight(args)
    signal.signal(signal.SIGTERM, _on_sigterm)
    plt = report.load_pyplot()
    env = environment.describe()
    log(environment.machine_line(env))
    if configs:
        log(
            f"{', '.join(c.name for c in configs)}; {args.rounds} rounds of "
            f"{args.duration:g}s windows at {args.connections} connections; servers on CPU "
            f"{args.server_cpu}, wrk on CPU {args.load_cpu}"
        )
    if args.gc:
        log(
            f"GC section: {', '.join(c.name for c in GC_CONFIGS)}; {args.gc_rounds} rounds of "
            f"{args.gc_window:g}s windows at {list(gc_pauses.CONNECTIONS)} connections"
        )
        if (missing := gc_pauses.setting_missing()) is not None:
            log(f"WARNING: {missing}")
    try:
        session.build_engine(configs)
    except server.ServerError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    load = workload.build(Predictor.load(MODEL_DIR))
    raw_batch = None
    if any(BATCH.name in c.endpoints for c in configs):
        # Issue 28's reference, timed in the rounds beside the servers' batch runs. Loaded
        # before raw_model.measure: a Booster loaded after that (which builds, loads and frees
        # a compiled engine) predicted ~30 % slower (32 against 46 k rows/s, 2026-12-01).
        batches = [json.loads(body.data)["rows"] for body in load.bodies[BATCH.name]]
        raw_batch = raw_model.BatchReference.load(MODEL_DIR, batches, args.server_cpu)
    raw = drift = None
    if not args.skip_raw:
        # On the servers' core, before any server exists.
        raw = raw_model.measure(MODEL_DIR, args.server_cpu, seconds=0.3 if args.quick else 1.0)
        drift = drift_cost.measure(MODEL_DIR, args.server_cpu, seconds=0.2 if args.quick else 0.5)
        log("raw model and drift recorder measured in-process")
    # From here this process only waits on wrk and reads /proc: it stays off the server core.
    os.sched_setaffinity(0, {args.load_cpu})
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-logs-", dir=server.log_root()) as logs:
        measured = session.Measured([], [])
        if configs:
            try:
                measured = _run(
                    args, configs, load, Path(logs), log,
                    args.rounds, args.duration, tuple(args.connections), raw_batch,
                    args.tail_requests if args.tails else 0,
                )  # fmt: skip
            except (server.ServerError, workload.WrongAnswerError) as exc:
                print(f"bench: FAILED before timing: {exc}", file=sys.stderr)
                return 2
            log("servers stopped")
        scraped = None
        if not args.skip_scrape:
            scraped = _scrape(args, load, Path(logs))
            log("/metrics scrape with 3 workers measured")
        gc = None
        if args.gc:
            gc = _gc(args, load, Path(logs), log)
            log("GC pauses measured, servers stopped")

    runs = measured.runs
    rows = report.summarise(runs, configs)
    components = breakdown.components(runs)
    invalid = traces.invalid(measured.spans)
    targets = breakdown.targets(runs, invalid)
    problems = report.warnings(rows, raw) + traces.problems(measured.spans)
    if scraped is not None and "error" in scraped:
        problems.append(f"FAILED the /metrics scrape measurement: {scraped['error'][:300]}")
    if gc is not None:
        problems += gc_pauses.problems(gc)
    if rows:
        print()
        print(report.table(rows, invalid))
        print(report.LEGEND)
        for config in configs:
            if config.name == FULL:
                print(report.settings_line(config, args.load_cpu))
    _print_sections(
        ([breakdown.components_table(components)] if components else [])
        + ([breakdown.targets_table(targets)] if targets else [])
        + ([traces.table(measured.spans, measured.sink_cpu_s)] if measured.spans else [])
        + ([scrape.table(scraped)] if scraped is not None else [])
        + ([report.raw_table(raw)] if raw else [])
        + ([text] if (text := report.batch_over_raw(runs, BATCH.rows)) else [])
        + ([drift_cost.table(drift)] if drift else [])
        + ([gc_pauses.table(gc)] if gc is not None else [])
    )
    for problem in problems:
        print(f"WARNING: {problem}")
    gate = None
    if args.gate is not None:
        gate = breakdown.gate(rows, args.gate, tuple(args.connections), invalid)
        print(f"\n{gate[1]}")

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    png = None
    if not rows:
        pass  # only the GC section ran: it has no chart
    elif plt is None:
        print("WARNING: matplotlib is missing (run `make bench`): no chart written")
    else:
        png = args.out / f"bench-{stamp}.png"
        report.plot(plt, png, rows, runs, f"Glassbox bench  {environment.machine_line(env)}")
    took = log.elapsed_s
    document = {
        **env,
        "settings": {
            "rounds": args.rounds,
            "window_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "server_cpu": args.server_cpu,
            "load_cpu": args.load_cpu,
            "quick": args.quick,
            "tails": args.tails,
            "tail_requests": args.tail_requests if args.tails else None,
            "gate": args.gate,
            "components": args.components,
            "gc_rounds": args.gc_rounds if args.gc else None,
            "gc_window_s": args.gc_window if args.gc else None,
        },
        "configs": measured.configs,
        "workload": load.describe(),
        "results": report.rows_as_dicts(rows),
        "components": components,
        "targets": targets,
        "invalid": invalid,
        "gate": None
        if gate is None
        else {"minimum": args.gate, "passed": gate[0], "line": gate[1]},
        "spans": measured.spans,
        "otlp_receiver_cpu_s": measured.sink_cpu_s,
        "scrape": scraped,
        "gc_pauses": gc,
        "runs": [r.as_dict() for r in runs],
        "raw_model": raw,
        "drift_recording": drift,
        "warnings": problems,
        "elapsed_s": round(took, 1),
    }
    json_path = report.publish(args.out, stamp, document, png)
    print(f"\nbench: wrote {json_path}" + (f" and {png.name}" if png else ""))
    print(f"bench: the whole run took {took:.0f} s ({int(took // 60)} min {took % 60:02.0f} s)")
    if gc is not None and "error" in gc:
        return 2  # a GC server did not start or gave a wrong answer
    failed = any(r.error for r in runs) or (gc is not None and gc_pauses.failed_rounds(gc))
    if failed:
        return 1
    return 3 if gate is not None and not gate[0] else 0


if __name__ == "__main__":
    sys.exit(main())
