"""Where a batch should leave the event loop: ``GLASSBOX_THREADPOOL_MIN_ROWS``, re-measured per
engine, in-process, pinned to one core.

For each batch size, the service's core (``Predictor.predict``: encoding, the engine, the
decisions) is timed inline and through the hop the route makes (``run_in_threadpool`` from a
running event loop). Inline, the loop is blocked for the whole prediction; on a thread it pays
the hop. The rule's break-even is the smallest batch whose inline time exceeds what the hop
adds: below it a thread costs more than it spares the loop.

``python -m bench.threadpool_rule [--core N] [--seconds S]`` prints the table and the
break-even for LightGBM and for the compiled engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool

from app.model.card import CARD_FILE, ModelCard
from app.model.compiled_engine import build
from app.model.predictor import Predictor
from bench.raw_model import on_core, per_call_us
from bench.workload import SEED
from examples.churn.generator import generate

SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


async def _hopped_us(predictor: Predictor, rows: list[dict[str, Any]], seconds: float) -> float:
    samples: list[float] = []
    for _ in range(20):
        await run_in_threadpool(predictor.predict, rows)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 20:
        start = time.perf_counter_ns()
        await run_in_threadpool(predictor.predict, rows)
        samples.append((time.perf_counter_ns() - start) / 1e3)
    return statistics.median(samples)


def measure(predictor: Predictor, seconds: float) -> list[tuple[int, float, float]]:
    """(rows, inline µs, through a thread µs), medians, per batch size."""
    records = list(generate(max(SIZES), SEED).records())
    out = []
    for n in SIZES:
        rows = records[:n]
        inline = statistics.median(per_call_us(partial(predictor.predict, rows), seconds))
        hopped = asyncio.run(_hopped_us(predictor, rows, seconds))
        out.append((n, inline, hopped))
    return out


def break_even(table: list[tuple[int, float, float]]) -> int | None:
    """The smallest batch whose inline time exceeds the hop's added cost."""
    for n, inline, hopped in table:
        if inline >= hopped - inline:
            return n
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--model-dir", type=Path, default=Path("models/churn"))
    args = parser.parse_args()
    card = ModelCard.load(args.model_dir / CARD_FILE)
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-engine-") as engine_dir:
        build((args.model_dir / card.model_file).read_bytes(), Path(engine_dir))
        compiled = Predictor.load(args.model_dir, num_threads=1, engine_dir=Path(engine_dir))
    if compiled.engine_refused is not None:
        raise SystemExit(f"the compiled engine was refused: {compiled.engine_refused}")
    for predictor in (Predictor.load(args.model_dir, num_threads=1), compiled):
        table, noise = on_core(args.core, partial(measure, predictor, args.seconds))
        print(f"{predictor.engine} (core {args.core}, noise {noise:.0%}):")
        print(f"  {'rows':>5} {'inline us':>10} {'thread us':>10} {'hop adds':>9}")
        for n, inline, hopped in table:
            print(f"  {n:5d} {inline:10.1f} {hopped:10.1f} {hopped - inline:9.1f}")
        print(f"  break-even: {break_even(table)} rows (inline time >= what the hop adds)")


if __name__ == "__main__":
    main()
