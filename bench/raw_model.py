"""The raw model in-process: single-row latency and rows/s by batch size, no HTTP at all.

Four paths are timed, each engine alone and through the service's core: ``Booster.predict``
(LightGBM) and ``lleaves.predict`` (the compiled engine, ``LleavesEngine.predict``) on a matrix
encoded beforehand, and ``Predictor.predict_proba`` on records (encoding included) with either
engine serving. The compiled engine is built into a temporary directory first, as `make run`
builds it.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import lightgbm
import numpy as np

from app.model.card import CARD_FILE, ModelCard
from app.model.compiled_engine import build
from app.model.predictor import Predictor
from bench.server import CLK_TCK, core_ticks
from bench.workload import SEED
from examples.churn.generator import generate

BATCH_SIZES = (1, 16, 128, 1000)
T = TypeVar("T")


def per_call_us(fn: Callable[[], Any], seconds: float, warmup_calls: int = 50) -> list[float]:
    for _ in range(warmup_calls):
        fn()
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 20:
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e3)
    return samples


def latency(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {
        "calls": len(ordered),
        "p50_us": statistics.median(ordered),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "mean_us": statistics.fmean(ordered),
    }


def on_core(core: int, fn: Callable[[], T]) -> tuple[T, float]:
    """Run ``fn`` with this process pinned to ``core``; returns its result and the share of
    the core that other processes (and the hypervisor) used meanwhile."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        wall, cpu, (busy, steal) = time.monotonic(), time.process_time(), core_ticks(core)
        out = fn()
        busy_after, steal_after = core_ticks(core)
        wall = time.monotonic() - wall
        others = (busy_after - busy) / CLK_TCK - (time.process_time() - cpu)
        noise = (max(0.0, others) + (steal_after - steal) / CLK_TCK) / wall
    finally:
        os.sched_setaffinity(0, allowed)
    return out, noise


def measure(model_dir: Path, core: int, seconds: float = 1.0) -> dict[str, Any]:
    """Time both paths on ``core``; ``seconds`` is the budget per measurement. ``noise`` is the
    share of the core others used meanwhile."""
    out, noise = on_core(core, partial(_measure, model_dir, seconds))
    return {**out, "noise": noise}


def _measure(model_dir: Path, seconds: float) -> dict[str, Any]:
    card = ModelCard.load(model_dir / CARD_FILE)
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-engine-") as engine_dir:
        build((model_dir / card.model_file).read_bytes(), Path(engine_dir))
        compiled = Predictor.load(model_dir, num_threads=1, engine_dir=Path(engine_dir))
    if compiled.engine_refused is not None:
        raise RuntimeError(f"the compiled engine was refused: {compiled.engine_refused}")
    predictor = Predictor.load(model_dir, num_threads=1)
    booster = lightgbm.Booster(model_file=str(model_dir / card.model_file))
    records = list(generate(max(BATCH_SIZES), SEED).records())
    matrix = predictor.encoder.encode_rows(records)
    row = records[:1]
    row_matrix = np.ascontiguousarray(matrix[:1])
    engine = compiled.predict_matrix
    out: dict[str, Any] = {
        "single_row": {
            "predictor.predict_proba": latency(
                per_call_us(partial(predictor.predict_proba, row), seconds)
            ),
            "predictor, lleaves": latency(
                per_call_us(partial(compiled.predict_proba, row), seconds)
            ),
            "booster.predict": latency(
                per_call_us(partial(booster.predict, row_matrix, num_threads=1), seconds)
            ),
            "lleaves.predict": latency(per_call_us(partial(engine, row_matrix), seconds)),
        },
        "rows_per_s": {
            "predictor.predict_proba": {},
            "predictor, lleaves": {},
            "booster.predict": {},
            "lleaves.predict": {},
        },
    }
    for n in BATCH_SIZES:
        rows, block = records[:n], np.ascontiguousarray(matrix[:n])
        paths: dict[str, Callable[[], Any]] = {
            "predictor.predict_proba": partial(predictor.predict_proba, rows),
            "predictor, lleaves": partial(compiled.predict_proba, rows),
            "booster.predict": partial(booster.predict, block, num_threads=1),
            "lleaves.predict": partial(engine, block),
        }
        for name, fn in paths.items():
            median_us = statistics.median(per_call_us(fn, seconds / 2, warmup_calls=5))
            out["rows_per_s"][name][str(n)] = n / (median_us / 1e6)
    return out


# The config name of the raw reference's runs in the bench's batch cells.
RAW_BATCH = "raw booster.predict"


@dataclass(frozen=True)
class BatchReference:
    """Issue 28's reference, timed inside the bench's rounds: raw ``Booster.predict`` (one
    thread) on the rows of the very batches wrk sends, encoded beforehand, on the server core,
    right after that round's HTTP batch runs. Timed beside them, its ratio survives this VM's
    speed moving from one minute to the next, which a figure taken before the servers did not."""

    booster: lightgbm.Booster
    matrices: tuple[np.ndarray, ...]
    core: int

    @classmethod
    def load(
        cls, model_dir: Path, batches: list[list[dict[str, Any]]], core: int
    ) -> BatchReference:
        card = ModelCard.load(model_dir / CARD_FILE)
        encoder = Predictor.load(model_dir, num_threads=1).encoder
        matrices = tuple(np.ascontiguousarray(encoder.encode_rows(rows)) for rows in batches)
        return cls(lightgbm.Booster(model_file=str(model_dir / card.model_file)), matrices, core)

    def measure(self, seconds: float) -> tuple[float, int, float]:
        """Batches/s over ``seconds`` of back-to-back calls rotating through the batches (as wrk
        rotates through their bodies), the calls made, and the share of the core others used."""

        def run() -> tuple[float, int]:
            for matrix in self.matrices:  # warm: each matrix once
                self.booster.predict(matrix, num_threads=1)
            calls, start = 0, time.perf_counter()
            deadline = start + seconds
            for matrix in itertools.cycle(self.matrices):
                self.booster.predict(matrix, num_threads=1)
                calls += 1
                if time.perf_counter() >= deadline:
                    break
            return calls / (time.perf_counter() - start), calls

        (per_s, calls), noise = on_core(self.core, run)
        return per_s, calls, noise


def main() -> None:
    """`python -m bench.raw_model [--core N] [--seconds S]`: this measurement alone, printed."""
    import argparse

    from bench.report import raw_table

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--model-dir", type=Path, default=Path("models/churn"))
    args = parser.parse_args()
    print(raw_table(measure(args.model_dir, args.core, args.seconds)))


if __name__ == "__main__":
    main()
