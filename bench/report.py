"""Turns runs into results: medians and paired ratios, the stdout table, JSON and a PNG chart."""

from __future__ import annotations

import json
import math
import shutil
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.configs import (
    BARE_EXPECTED_CPU_US,
    BARE_EXPECTED_RPS_16,
    SINGLE,
    Config,
    reference_for,
)
from bench.raw_model import RAW_BATCH
from bench.runner import Run

# Thresholds that turn a figure into a warning printed under the table.
NOISE_WARN = 0.10  # other processes + steal on the server core, share of the window
LOAD_WARN = 0.90  # wrk's own CPU share of its core: above this wrk, not the server, limits
SPREAD_WARN = 0.15  # (max - min) / median of rps over rounds
BARE_LOW_WARN = 0.7  # bare reference below this share of its known figure: a bench bug

LEGEND = (
    "rps, latency (wrk, whole run), CPU, RSS (per worker, after the run): medians over rounds;\n"
    "rps/bare, CPU/bare: medians of per-round paired ratios; busy: server CPU share of its core;\n"
    "noise: worst share of that core used by other processes or stolen by the hypervisor during\n"
    "a measured window; INVALID: the row lost spans (below the spans table)"
)


@dataclass(frozen=True, slots=True)
class Row:
    """The medians over rounds of one configuration on one endpoint at one connection count."""

    endpoint: str
    connections: int
    config: str
    reference: str
    rounds_ok: int
    rounds: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    cpu_us_per_request: float
    rps_ratio: float  # median over rounds of rps / reference rps in the same round
    cpu_ratio: float  # same for CPU per request
    server_busy: float
    noise_max: float
    load_cpu_max: float
    rps_spread: float
    rss_mib: float  # per worker (their mean) after the run
    errors: tuple[str, ...]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def rss_mib_per_worker(rss_kib: dict[int, int] | None) -> float:
    """A run's resident memory per worker (the mean of its workers'), MiB."""
    return statistics.fmean(rss_kib.values()) / 1024 if rss_kib else math.nan


def summarise(runs: list[Run], configs: tuple[Config, ...]) -> list[Row]:
    by_key: dict[tuple[str, str, int], list[Run]] = {}
    for run in runs:
        by_key.setdefault((run.config, run.endpoint, run.connections), []).append(run)
    rows = []
    for (name, endpoint, connections), cell_runs in by_key.items():
        ref = reference_for(endpoint, configs).name
        ok = [r for r in cell_runs if r.error is None]
        ref_by_round = {
            r.round: r for r in by_key.get((ref, endpoint, connections), []) if r.error is None
        }
        pairs = [(r, ref_by_round[r.round]) for r in ok if r.round in ref_by_round]
        rps = [r.rps for r in ok]

        def latency(key: str, ok: list[Run] = ok) -> float:
            return _median([r.latency_us[key] / 1e3 for r in ok if r.latency_us])

        rows.append(
            Row(
                endpoint=endpoint,
                connections=connections,
                config=name,
                reference=ref,
                rounds_ok=len(ok),
                rounds=len(cell_runs),
                rps=_median(rps),
                p50_ms=latency("p50"),
                p90_ms=latency("p90"),
                p99_ms=latency("p99"),
                p999_ms=latency("p999"),
                cpu_us_per_request=_median([r.cpu_us_per_request for r in ok]),
                rps_ratio=_median([r.rps / b.rps for r, b in pairs]),
                cpu_ratio=_median([r.cpu_us_per_request / b.cpu_us_per_request for r, b in pairs]),
                server_busy=_median([r.server_busy for r in ok]),
                noise_max=max((r.noise for r in ok), default=math.nan),
                load_cpu_max=max((r.load_cpu for r in ok), default=math.nan),
                rps_spread=(max(rps) - min(rps)) / _median(rps) if len(rps) > 1 else 0.0,
                rss_mib=_median([rss_mib_per_worker(r.rss_kib) for r in ok if r.rss_kib]),
                errors=tuple(r.error for r in cell_runs if r.error),
            )
        )
    return rows


def warnings(rows: list[Row], raw: dict[str, Any] | None = None) -> list[str]:
    out = []
    if raw and raw["noise"] > NOISE_WARN:
        out.append(f"noisy raw model: others took {raw['noise']:.0%} of the core meanwhile")
    for row in rows:
        where = f"{row.config} {row.endpoint} c{row.connections}"
        if row.errors:
            out.append(f"FAILED {where}: {len(row.errors)} run(s) failed: {row.errors[0][:300]}")
        if row.noise_max > NOISE_WARN:
            out.append(
                f"noisy {where}: other processes and steal took up to {row.noise_max:.0%} "
                "of the server core"
            )
        if row.load_cpu_max > LOAD_WARN:
            out.append(f"wrk saturated its core ({row.load_cpu_max:.0%}) in {where}")
        if row.rps_spread > SPREAD_WARN:
            out.append(f"rps spread {row.rps_spread:.0%} over rounds in {where}")
        if row.config == reference_for(SINGLE.name).name and row.endpoint == SINGLE.name:
            if row.connections == 16 and row.rps < BARE_LOW_WARN * BARE_EXPECTED_RPS_16:
                out.append(
                    f"BENCH BUG? the bare reference gives {row.rps:.0f} rps at 16 connections, "
                    f"far below the ~{BARE_EXPECTED_RPS_16:.0f} it measures on the bench machine "
                    "(BARE_EXPECTED_RPS_16): fix the bench (or the machine, or the figure on "
                    "another machine) before believing any ratio"
                )
            if row.cpu_us_per_request > BARE_EXPECTED_CPU_US / BARE_LOW_WARN:
                out.append(
                    f"BENCH BUG? the bare reference costs {row.cpu_us_per_request:.0f} us CPU "
                    f"per request, far above the ~{BARE_EXPECTED_CPU_US:.0f} it costs on the "
                    "bench machine (BARE_EXPECTED_CPU_US)"
                )
    return out


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def table(rows: list[Row], invalid: dict[str, str] | None = None) -> str:
    """The results; a row of a configuration in ``invalid`` (``traces.invalid``) is marked."""
    header = (
        f"{'endpoint':8} {'conns':>5} {'config':14} {'rps':>8} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'p99.9 ms':>8} {'CPU us/req':>10} {'rps/bare':>8} {'CPU/bare':>8} "
        f"{'busy':>5} {'noise':>5} {'RSS MiB':>7} {'rounds':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.endpoint:8} {r.connections:>5} {r.config:14} {_fmt(r.rps, '8.1f')} "
            f"{_fmt(r.p50_ms, '8.2f')} {_fmt(r.p90_ms, '8.2f')} {_fmt(r.p99_ms, '8.2f')} "
            f"{_fmt(r.p999_ms, '8.2f')} {_fmt(r.cpu_us_per_request, '10.0f')} "
            f"{_fmt(r.rps_ratio, '8.2f')} {_fmt(r.cpu_ratio, '8.2f')} "
            f"{_fmt(r.server_busy, '5.0%')} {_fmt(r.noise_max, '5.0%')} "
            f"{_fmt(r.rss_mib, '7.1f')} {r.rounds_ok:>3}/{r.rounds:<2}"
            + ("  INVALID" if invalid and r.config in invalid else "")
        )
    return "\n".join(lines)


def settings_line(config: Config, receiver_cpu: int) -> str:
    """What a row runs with, beside its figures: its settings as the harness sets them."""
    settings = " ".join(f"{k}={v}" for k, v in config.env.items() if k != "WEB_CONCURRENCY")
    parts = [
        f"{config.name} ({config.description}): {settings}"
        + (" (the rest as shipped)" if config.multiproc_dir else ""),
        *([f"engine {config.engine} (/readyz checked)"] if config.engine else []),
        f"{config.workers} worker(s) pinned to one core",
    ]
    if config.otlp:
        parts.append(f"spans exported over OTLP/HTTP to the receiver on CPU {receiver_cpu}")
    return "; ".join(parts)


def raw_table(raw: dict[str, Any]) -> str:
    lines = [f"raw model in-process (1 thread; noise {raw['noise']:.0%}):"]
    for name, stats in raw["single_row"].items():
        lines.append(
            f"  single row  {name:24} p50 {stats['p50_us']:7.1f} us  p90 {stats['p90_us']:7.1f} us"
            f"  p99 {stats['p99_us']:7.1f} us"
        )
    sizes = list(next(iter(raw["rows_per_s"].values())))
    lines.append(f"  rows/s      {'batch rows':24} " + " ".join(f"{s:>9}" for s in sizes))
    for name, by_size in raw["rows_per_s"].items():
        lines.append(f"  {'':11} {name:24} " + " ".join(f"{by_size[s]:9.0f}" for s in sizes))
    return "\n".join(lines)


# Issue 28's batch target: a batch through HTTP at >= this many times the rows/s of the raw
# model alone (`Booster.predict`, one thread, same core) on the same batches.
BATCH_OVER_RAW_TARGET = 1.0


def batch_over_raw(runs: list[Run], batch_rows: int) -> str | None:
    """Each configuration's batch throughput in rows/s against the raw reference's, as the
    median over rounds of the ratio within a round (the raw reference is timed in each round
    right after the servers' batch runs, `runner.run_all`)."""
    raw = {(r.round, r.connections): r for r in runs if r.config == RAW_BATCH and r.error is None}
    if not raw:
        return None
    served = [
        r for r in runs if r.endpoint == "batch" and r.config != RAW_BATCH and r.error is None
    ]
    raw_rows = _median([r.rps * batch_rows for r in raw.values()])
    lines = [
        f"issue 28: a batch of {batch_rows} over HTTP against {RAW_BATCH} timed in the same "
        f"rounds ({raw_rows:.0f} rows/s median; target >= {BATCH_OVER_RAW_TARGET:.1f}x; "
        "ratio: median (min..max) of per-round ratios):"
    ]
    for key in dict.fromkeys((r.config, r.connections) for r in served):
        mine = [r for r in served if (r.config, r.connections) == key]
        ratios = [r.rps / raw[(r.round, r.connections)].rps for r in mine
                  if (r.round, r.connections) in raw]  # fmt: skip
        if not ratios:
            continue
        ratio = statistics.median(ratios)
        verdict = "met" if ratio >= BATCH_OVER_RAW_TARGET else "NOT met"
        cpu_per_row = _median([r.cpu_us_per_request for r in mine]) / batch_rows
        lines.append(
            f"  {key[0]:18} c{key[1]:<3} {_median([r.rps for r in mine]) * batch_rows:9.0f} "
            f"rows/s  {ratio:5.2f}x ({min(ratios):.2f}..{max(ratios):.2f})  "
            f"{cpu_per_row:6.1f} us CPU/row  {verdict}"
        )
    return "\n".join(lines)


def _clean(value: Any) -> Any:
    """JSON-ready: NaN (a figure that does not exist) becomes null, tuples and paths plain."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(_clean(document), indent=2, allow_nan=False) + "\n")


def rows_as_dicts(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]


def load_pyplot() -> Any | None:
    """matplotlib.pyplot (Agg), or None when the bench dependency group is not installed.
    Loaded before the run: a concurrent `uv sync` without the group cannot take it away."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot(plt: Any, path: Path, rows: list[Row], runs: list[Run], title: str) -> None:
    """A PNG: per endpoint, throughput (bars: median, dots: rounds) and latency p50/p90/p99."""
    endpoints = list(dict.fromkeys(r.endpoint for r in rows))
    most = max(len({r.config for r in rows if r.endpoint == e}) for e in endpoints)
    fig, axes = plt.subplots(
        len(endpoints), 2, figsize=(12 + max(0, most - 3), 4 * len(endpoints)), squeeze=False
    )
    for (ax_rps, ax_lat), endpoint in zip(axes, endpoints, strict=True):
        mine = [r for r in rows if r.endpoint == endpoint]
        conns = sorted({r.connections for r in mine})
        names = list(dict.fromkeys(r.config for r in mine))
        width = 0.8 / len(names)
        # A configuration may run at some connection counts only: each group centres the bars
        # of the configurations that ran there.
        groups = [[r for name in names for r in mine if (r.config, r.connections) == (name, c)]
                  for c in conns]  # fmt: skip
        for name in names:
            placed = [
                (c_i + (k - (len(group) - 1) / 2) * width, r)
                for c_i, group in enumerate(groups)
                for k, r in enumerate(group)
                if r.config == name
            ]
            xs = [x for x, _ in placed]
            cells = [r for _, r in placed]
            bars = ax_rps.bar(xs, [r.rps for r in cells], width, label=name)
            ax_rps.bar_label(
                bars,
                [f"{r.rps:.0f}" + (f"\n{r.rps_ratio:.2f}x" if r.config != r.reference else "")
                 for r in cells],
                fontsize=7,
                label_type="center",
            )  # fmt: skip
            for x, cell in placed:
                dots = [
                    r.rps
                    for r in runs
                    if r.config == name and r.endpoint == endpoint
                    and r.connections == cell.connections and r.error is None
                ]  # fmt: skip
                ax_rps.plot([x] * len(dots), dots, "k.", markersize=4)
            ax_lat.bar(xs, [r.p50_ms for r in cells], width, label=f"{name} p50")
            ax_lat.errorbar(
                xs,
                [r.p50_ms for r in cells],
                yerr=[
                    [0.0] * len(cells),
                    [max(0.0, r.p99_ms - r.p50_ms) for r in cells],
                ],
                fmt="none",
                ecolor="black",
                capsize=3,
            )
            ax_lat.plot(xs, [r.p90_ms for r in cells], "k_", markersize=10)
        for ax in (ax_rps, ax_lat):
            ax.set_xticks(range(len(conns)), [f"{c} connections" for c in conns])
            ax.grid(axis="y", alpha=0.3)
        ax_rps.set_title(f"{endpoint}: throughput (median bar, rounds as dots)")
        ax_rps.set_ylabel("requests/s")
        # Room above the bars for the legend, however many configurations there are.
        ax_rps.set_ylim(top=1.35 * max(r.rps for r in mine if not math.isnan(r.rps)))
        ax_rps.legend(fontsize=8, loc="upper center", ncols=min(4, len(names)))
        ax_lat.set_title(f"{endpoint}: latency p50 (bar), p90 (tick), p99 (whisker)")
        ax_lat.set_ylabel("ms")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def publish(out_dir: Path, stamp: str, document: dict[str, Any], png: Path | None) -> Path:
    """Write the JSON next to the PNG and refresh the latest.* copies; returns the JSON path."""
    json_path = out_dir / f"bench-{stamp}.json"
    write_json(json_path, document)
    shutil.copyfile(json_path, out_dir / "latest.json")
    if png is not None:
        shutil.copyfile(png, out_dir / "latest.png")
    return json_path
