"""Issue 13's section: the collector's full collections, and gc.freeze() that takes start-up's
objects out of their way.

Without ``gc.freeze()`` every full (generation 2) collection walks the ~120,000 objects alive
after start-up (the app, the model, the libraries): a pause of 40-60 ms, more on a loaded
machine, about every twenty seconds of steady load, which shows in the p99.9 and the max of a
10 s round at 16 connections. The two servers of ``configs.GC_CONFIGS`` (frozen, as shipped, and
not; telemetry off as in the issue, so the tail is the service's own and no telemetry thread's)
run the runner's plan on their own after everything else: a warm-up each, then ``ROUNDS``
interleaved rounds of one ``WINDOW_S`` window, the quietest of up to three attempts kept as
everywhere. Reported per round: wrk's p99.9 and max over the whole run (a stall can land in the
start-up margin too), rps and the noise on the server core (a busy neighbour makes tails too);
the full collections the worker ran during the run and the longest (``gc_probe.py``: the
service's own gunicorn config plus a ``gc.callbacks`` probe), so a tail can be told from a
collection; and each worker's resident memory at readiness, after the first round and after the
last: the frozen objects are never freed, so RSS must not climb over the minutes it runs.
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from app.settings import Settings
from bench.configs import GC_CONFIGS, GC_FREEZE, OFF, ONE_CELL
from bench.report import NOISE_WARN
from bench.runner import Run
from bench.server import GC_LOG

ROUNDS = 6
WINDOW_S = 10.0
CONNECTIONS: tuple[int, ...] = ONE_CELL["connections"]
# A round whose p99.9 reaches this holds a stall: the measure (a 10 s round's p99.9 is
# ~10 ms without one, 45-75 ms with one). Not the max: on a shared VM the host deschedules a
# vCPU for 20-60 ms now and then (a busy loop sees it), which sets the max of any round.
STALL_MS = 40.0


def setting_missing() -> str | None:
    """Why the two rows would be the same server, or None: the service's settings differ with
    GC_FREEZE true and false (however they are laid out)."""
    dumps = []
    for value in ("true", OFF):
        with mock.patch.dict(os.environ, {GC_FREEZE: value}):
            dumps.append(Settings().model_dump())
    if dumps[0] == dumps[1]:
        return f"{GC_FREEZE} is not a setting of this service: both gc rows run the same server"
    return None


@dataclass(frozen=True, slots=True)
class Collection:
    """One line of gc_probe.py's log: a full collection, or another one of 1 ms or more."""

    at: float  # CLOCK_MONOTONIC at its end
    pid: int
    generation: int
    ms: float
    collected: int


def read_log(path: Path) -> list[Collection]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        at, pid, generation, ms, collected = line.split()
        out.append(Collection(float(at), int(pid), int(generation), float(ms), int(collected)))
    return out


def _ms(run: Run, key: str) -> float:
    return run.latency_us[key] / 1e3 if run.latency_us else math.nan


def _mib(rss_kib: dict[Any, int] | None) -> float:
    return sum(rss_kib.values()) / 1024 if rss_kib else math.nan


def _round(run: Run, collections: list[Collection]) -> dict[str, Any]:
    during = [c for c in collections if run.wrk_start <= c.at <= run.wrk_end]
    full = [c.ms for c in during if c.generation == 2]
    return {
        "round": run.round + 1,
        "error": run.error,
        "wrk_duration_s": run.wrk_duration_s,
        "p99_ms": _ms(run, "p99"),
        "p999_ms": _ms(run, "p999"),
        "max_ms": _ms(run, "max"),
        "rps": run.rps,
        "noise": run.noise,
        "attempts": run.attempts,
        "rss_mib": _mib(run.rss_kib),
        "full_collections": len(full),
        "full_collection_ms_max": max(full, default=math.nan),
        # Of every collection logged (full, or another of gc_probe.MIN_MS or more).
        "collection_ms_max": max((c.ms for c in during), default=math.nan),
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarise(runs: list[Run], described: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration, its rounds in order and what they add up to. ``described`` is the
    servers as the harness describes them: their environment names the probe's log."""
    out: dict[str, Any] = {"connections": list(CONNECTIONS), "stall_ms": STALL_MS, "configs": {}}
    for config in GC_CONFIGS:
        mine = sorted((r for r in runs if r.config == config.name), key=lambda r: r.round)
        ok = [r for r in mine if r.error is None]
        server = next((d for d in described if d["name"] == config.name), {})
        log = (server.get("env") or {}).get(GC_LOG)
        collections = read_log(Path(log)) if log else []
        rounds = [_round(r, collections) for r in mine]
        good = [r for r in rounds if r["error"] is None]
        maxima, p999 = [r["max_ms"] for r in good], [r["p999_ms"] for r in good]
        first = min((r.wrk_start for r in mine), default=math.inf)
        out["configs"][config.name] = {
            "description": config.description,
            "env": {GC_FREEZE: config.env[GC_FREEZE]},
            "rounds": rounds,
            "probe": log is not None,
            # Before the first round: start-up's, the freeze's own gc.collect(), the warm-up's.
            "full_collections_before": [
                {"ms": c.ms, "collected": c.collected}
                for c in collections
                if c.generation == 2 and c.at < first
            ],
            "full_collections_in_rounds": sum(r["full_collections"] for r in good),
            "full_collection_ms_max_in_rounds": max(
                (r["full_collection_ms_max"] for r in good if r["full_collections"]),
                default=math.nan,
            ),
            "p999_ms_median": _median(p999),
            "p999_ms_worst": max(p999, default=math.nan),
            "max_ms_median": _median(maxima),
            "max_ms_worst": max(maxima, default=math.nan),
            "stalled_rounds": sum(p >= STALL_MS for p in p999),
            "rounds_ok": len(ok),
            "rss_mib_ready": _mib(server.get("ready_rss_kib")),
            "rss_mib_first": _mib(ok[0].rss_kib) if ok else math.nan,
            "rss_mib_last": _mib(ok[-1].rss_kib) if ok else math.nan,
        }
    return out


def failed_rounds(result: dict[str, Any]) -> int:
    return sum(bool(r["error"]) for c in result["configs"].values() for r in c["rounds"])


def problems(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"FAILED the GC pauses section: {result['error'][:300]}"]
    if (missing := setting_missing()) is not None:
        return [missing]
    out = []
    for name, c in result["configs"].items():
        for r in c["rounds"]:
            if r["error"]:
                out.append(f"FAILED {name} gc round {r['round']}: {r['error'][:300]}")
            elif r["noise"] > NOISE_WARN:
                out.append(
                    f"noisy {name} gc round {r['round']}: other processes and steal took "
                    f"{r['noise']:.0%} of the server core (a tail of their making, maybe)"
                )
    return out


def _cells(values: list[float], spec: str) -> str:
    return " ".join("-".rjust(7) if math.isnan(v) else format(v, spec) for v in values)


def _ms_list(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values) + " ms" if values else "none"


def _longest(ms: float) -> str:
    return "" if math.isnan(ms) else f", longest {ms:.1f} ms"


def table(result: dict[str, Any]) -> str:
    """The section as printed: ``summarise``'s figures with the window and the time it took."""
    if "error" in result:
        return f"GC pauses: FAILED: {result['error']}"
    configs = result["configs"]
    rounds = max(len(c["rounds"]) for c in configs.values())
    durations = sorted({r["wrk_duration_s"] for c in configs.values() for r in c["rounds"]})
    header = f"{'config':13} {'round':12} " + " ".join(f"{i + 1:>7}" for i in range(rounds))
    header += f" {'median':>7} {'worst':>7}"
    lines = [
        f"GC pauses (issue 13), single row at {result['connections'][0]} connections, telemetry "
        f"off: {rounds} alternating rounds of\n"
        f"{result['window_s']:g} s windows (wrk runs "
        f"{'/'.join(map(str, durations))} s), latency over each whole run; "
        f"{result['took_s']:.0f} s in all",
        header,
        "-" * len(header),
    ]
    for name, c in configs.items():
        rs = c["rounds"]
        lines += [
            f"{name:13} {'p99.9 ms':12} {_cells([r['p999_ms'] for r in rs], '7.1f')} "
            f"{c['p999_ms_median']:7.1f} {c['p999_ms_worst']:7.1f}",
            f"{'':13} {'max ms':12} {_cells([r['max_ms'] for r in rs], '7.1f')} "
            f"{c['max_ms_median']:7.1f} {c['max_ms_worst']:7.1f}",
            f"{'':13} {'full GCs':12} {_cells([r['full_collections'] for r in rs], '7.0f')}",
            f"{'':13} {'longest, ms':12} "
            f"{_cells([r['full_collection_ms_max'] for r in rs], '7.1f')}",
            f"{'':13} {'rps':12} {_cells([r['rps'] for r in rs], '7.0f')}",
            f"{'':13} {'noise':12} {_cells([r['noise'] for r in rs], '7.0%')}",
        ]
    lines.append(
        "full GCs: the worker's generation-2 collections during the round (gc_probe.py), "
        "longest: the longest of them"
    )
    lines.append(
        f"rounds with a p99.9 of {result['stall_ms']:g} ms or more (a stall): "
        + ", ".join(f"{n} {c['stalled_rounds']}/{len(c['rounds'])}" for n, c in configs.items())
    )
    for n, c in configs.items():
        lines.append(
            f"{n}: {c['full_collections_in_rounds']} full GCs in the rounds"
            + _longest(c["full_collection_ms_max_in_rounds"])
            + "; before them (start-up, warm-up): "
            + _ms_list([f["ms"] for f in c["full_collections_before"]])
        )
    lines.append(
        "worker RSS, MiB (at readiness -> after round 1 -> after the last round): "
        + "; ".join(
            f"{n} {c['rss_mib_ready']:.1f} -> {c['rss_mib_first']:.1f} -> "
            f"{c['rss_mib_last']:.1f} ({c['rss_mib_last'] - c['rss_mib_first']:+.1f})"
            for n, c in configs.items()
        )
    )
    return "\n".join(lines)
