"""`python -m bench.fast_path_prices` (`make bench-prices`): what each fast path saves in server
CPU per request under load.

One gunicorn server per row of ``fast_path_configs`` (issue 6's full telemetry at 10 %,
exported to bench's OTLP receiver): every fast path on (``paths:all``), each one off alone
(``paths:-<name>``) and none (``paths:none``); 1 worker each, all pinned to the server core,
wrk and the receiver on the other. In each round, for each fast path in turn (the order turns
from round to round), ``paths:all`` and ``paths:-<name>`` run back to back (which goes first
alternates), single rows at 16 connections, and the pair gives one difference of CPU µs per
request (the server's whole process group, from /proc, over the run's steady window: runner.py),
``paths:-<name>`` minus ``paths:all``: what the fast path saved in that round. Reported per fast
path: the median of the in-round differences and their spread (min..max, and the quartiles),
with the machine's load average before and after, since the machine may be shared. Each run is
the bench's own (answers checked before and after, a noisy window run again).

Writes ``.run/bench/fast_path_prices.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.fast_paths import SERVED_REQUEST_PATHS
from app.model.predictor import Predictor
from bench import environment, runner, server, session, traces, workload
from bench.configs import ALL_PATHS, NO_PATHS, SINGLE, Config, fast_path_configs, without_config
from bench.runner import Cell

ROOT = server.ROOT
OUT = ROOT / ".run" / "bench" / "fast_path_prices.json"
CELL = Cell(SINGLE.name, 16)
DEFAULT_ROUNDS = 5
ALL_TOGETHER = "(all of them)"  # the pair paths:all / paths:none


@dataclass(frozen=True, slots=True)
class Pair:
    round: int
    fast_path: str
    with_it: runner.Run
    without_it: runner.Run

    @property
    def saved_us(self) -> float:
        return self.without_it.cpu_us_per_request - self.with_it.cpu_us_per_request


def paired_plan(
    bench: runner.Bench,
    configs: dict[str, Config],
    names: list[str],
    rounds: int,
    window_s: float,
    warmup_s: int,
    pairs: list[Pair],
) -> list[runner.Run]:
    """Warm every server, then ``rounds`` rounds of back-to-back pairs; fills ``pairs``."""
    margin = max(
        runner.start_margin(CELL.connections, bench.warmup(c, CELL, warmup_s))
        for c in configs.values()
    )
    bench.log(f"  warmed up; each window opens after {margin:.1f} s")
    runs: list[runner.Run] = []
    for round_ in range(rounds):
        turn = round_ % len(names)
        for i, name in enumerate(names[turn:] + names[:turn]):
            other = NO_PATHS if name == ALL_TOGETHER else without_config(name)
            order = [ALL_PATHS, other] if (round_ + i) % 2 == 0 else [other, ALL_PATHS]
            done = {c: bench.quiet(round_, configs[c], CELL, margin, window_s) for c in order}
            runs += done.values()
            pair = Pair(round_, name, done[ALL_PATHS], done[other])
            failed = [r.error for r in done.values() if r.error]
            if failed:
                bench.log(f"  round {round_ + 1}/{rounds} {name}: FAILED {failed}")
                continue
            pairs.append(pair)
            bench.log(
                f"  round {round_ + 1}/{rounds} {name:18} "
                f"all {pair.with_it.cpu_us_per_request:6.1f}  "
                f"off {pair.without_it.cpu_us_per_request:6.1f} us/req  saved "
                f"{pair.saved_us:+6.1f}  (others on the core: {pair.with_it.noise:.0%}, "
                f"{pair.without_it.noise:.0%})"
            )
    return runs


def summarise(pairs: list[Pair], names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        saved = sorted(p.saved_us for p in pairs if p.fast_path == name)
        if not saved:
            rows.append({"fast_path": name, "rounds": 0})
            continue
        quartiles = statistics.quantiles(saved, n=4) if len(saved) >= 2 else [saved[0]] * 3
        rows.append(
            {
                "fast_path": name,
                "rounds": len(saved),
                "saved_us": saved,
                "median_us": statistics.median(saved),
                "min_us": saved[0],
                "max_us": saved[-1],
                "q1_us": quartiles[0],
                "q3_us": quartiles[2],
                # The spread holds no saving: some round saw none, or the opposite.
                "within_spread": saved[0] <= 0.0,
                "all_us": statistics.median(
                    p.with_it.cpu_us_per_request for p in pairs if p.fast_path == name
                ),
            }
        )
    return rows


def table(rows: list[dict[str, Any]], load: tuple[list[float], list[float]]) -> str:
    lines = [
        f"CPU us per request saved under load ({CELL.endpoint}, {CELL.connections} connections; "
        "paths:-<name> minus paths:all, in-round pairs):",
        f"  {'fast path':18} {'rounds':>6} {'median':>7} {'min..max':>15} {'q1..q3':>15}  "
        f"{'all':>6}",
    ]
    for r in rows:
        if not r["rounds"]:
            lines.append(f"  {r['fast_path']:18} no pair completed")
            continue
        lines.append(
            f"  {r['fast_path']:18} {r['rounds']:>6} {r['median_us']:+7.1f} "
            f"{r['min_us']:+6.1f}..{r['max_us']:+6.1f} {r['q1_us']:+6.1f}..{r['q3_us']:+6.1f}  "
            f"{r['all_us']:6.1f}" + ("  (0 within the spread)" if r["within_spread"] else "")
        )
    before, after = load
    lines.append(
        "  load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in after)
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fast_path_prices", description=__doc__)
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds (default 5)")
    p.add_argument("--duration", type=float, default=4.0, help="seconds of each window")
    p.add_argument("--warmup", type=int, default=2, help="seconds of each discarded warm-up")
    p.add_argument(
        "--fast-paths", nargs="+", choices=SERVED_REQUEST_PATHS, default=list(SERVED_REQUEST_PATHS)
    )
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    args = p.parse_args(argv)
    log = print
    env = environment.describe()
    load_before = list(os.getloadavg())
    names = [*args.fast_paths, ALL_TOGETHER]
    configs = {c.name: c for c in fast_path_configs(tuple(args.fast_paths))}
    log(environment.machine_line(env))
    log(f"{len(configs)} servers; {args.rounds} rounds of {len(names)} pairs; load {load_before}")
    load = workload.build(Predictor.load(ROOT / "models" / "churn"))
    os.sched_setaffinity(0, {args.load_cpu})  # this process waits and reads /proc only
    pairs: list[Pair] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="glassbox-prices-", dir=server.log_root()) as logs:
        measured = session.measure(
            tuple(configs.values()), load, Path(logs), log, args.server_cpu, args.load_cpu,
            lambda bench: paired_plan(
                bench, configs, names, args.rounds, args.duration, args.warmup, pairs
            ),
        )  # fmt: skip
    load_after = list(os.getloadavg())
    rows = summarise(pairs, names)
    print()
    print(table(rows, (load_before, load_after)))
    problems = traces.problems(measured.spans)
    for problem in problems:
        print(f"WARNING: {problem}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                **env,
                "load_average_before": load_before,
                "load_average_after": load_after,
                "settings": vars(args) | {"cell": [CELL.endpoint, CELL.connections]},
                "base": "full@0.1",
                "rows": rows,
                "pairs": [
                    {"round": q.round, "fast_path": q.fast_path, "saved_us": q.saved_us}
                    for q in pairs
                ],
                "runs": [r.as_dict() for r in measured.runs],
                "spans": measured.spans,
                "warnings": problems,
                "elapsed_s": round(time.monotonic() - started, 1),
            },
            indent=1,
        )
    )
    print(f"wrote {OUT.relative_to(ROOT)} ({time.monotonic() - started:.0f} s)")
    return 1 if any(r.error for r in measured.runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
