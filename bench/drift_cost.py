"""Issue 7's microbenchmark: what recording one request's drift bins costs, in-process.

Built as the service builds it (``app.drift.assembly.assemble_drift``): a ``Binner`` over the
card's contract and reference profile, a ``DriftRecorder`` over in-memory counts (dev, tests) or
a worker's memory-mapped counts file (``SharedCounts``, what gunicorn workers use), rows encoded
by ``Predictor.encode`` and their probabilities as the handler hands them over: each call counts
the features' bins and the prediction's. Timed on the servers' core before any server exists,
like the raw model.
"""

from __future__ import annotations

import statistics
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from app.drift.binning import Binner
from app.drift.recorder import DriftRecorder
from app.drift.store import MemoryCounts, SharedCounts
from app.model.card import PROFILE_FILE
from app.model.predictor import Predictor
from app.model.profile import ReferenceProfile
from bench.raw_model import latency, on_core, per_call_us
from bench.workload import SEED
from examples.churn.generator import generate

BATCH_ROWS = 1000


def measure(model_dir: Path, core: int, seconds: float = 0.5) -> dict[str, Any]:
    """``DriftRecorder.record`` per call and per row, for 1 row and a batch, per store;
    ``seconds`` is the budget per measurement, ``noise`` the share of the core others used."""
    out, noise = on_core(core, partial(_measure, model_dir, seconds))
    return {"calls": out, "noise": noise}


def _measure(model_dir: Path, seconds: float) -> dict[str, dict[str, float]]:
    predictor = Predictor.load(model_dir, num_threads=1)
    contract = predictor.card.contract
    binner = Binner(contract, ReferenceProfile.load(model_dir / PROFILE_FILE, contract))
    records = list(generate(BATCH_ROWS, SEED).records())
    matrices = {1: predictor.encode(records[:1]), BATCH_ROWS: predictor.encode(records)}
    probabilities = {rows: predictor.predict_matrix(m) for rows, m in matrices.items()}
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-drift-") as directory:
        stores: dict[str, MemoryCounts | SharedCounts] = {
            "MemoryCounts": MemoryCounts(binner.size),
            "SharedCounts": SharedCounts(Path(directory), predictor.version, binner.size),
        }
        for store_name, store in stores.items():
            recorder = DriftRecorder(binner, store)
            for rows, matrix in matrices.items():
                before = recorder.totals()
                samples = per_call_us(
                    partial(recorder.record, matrix, probabilities[rows]), seconds
                )
                _check_counted(recorder.totals() - before, matrix, binner)
                stats = latency(samples)
                out[f"{store_name} x{rows}"] = {
                    "rows": rows,
                    **stats,
                    "p50_us_per_row": stats["p50_us"] / rows,
                    "mean_us_per_row": statistics.fmean(samples) / rows,
                }
    return out


def _check_counted(added: np.ndarray, matrix: np.ndarray, binner: Binner) -> None:
    """Every call counted every feature of every row and its prediction once: a recorder that
    skipped work would look fast."""
    per_row = len(binner.features) + 1
    if added.sum() % (matrix.shape[0] * per_row) != 0:
        raise RuntimeError(f"drift recorder counted {added.sum()} bins, not a multiple of a call's")


def table(result: dict[str, Any]) -> str:
    noise = result["noise"]
    lines = [
        f"drift recording in-process, DriftRecorder.record (1 thread; noise {noise:.0%}):",
        f"  {'store':14} {'rows':>5} {'p50 us/call':>12} {'p90 us/call':>12} {'p99 us/call':>12}"
        f" {'us/row':>8}",
    ]
    for name, stats in result["calls"].items():
        store = name.split(" ")[0]
        lines.append(
            f"  {store:14} {stats['rows']:>5} {stats['p50_us']:12.1f} {stats['p90_us']:12.1f} "
            f"{stats['p99_us']:12.1f} {stats['p50_us_per_row']:8.3f}"
        )
    return "\n".join(lines)
