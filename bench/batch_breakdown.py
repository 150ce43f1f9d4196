"""`python -m bench.batch_breakdown`: the CPU a 1000-row ``/predict/batch`` request costs per row,
stage by stage, in-process, and the whole request through the app, without the model.

The bodies are bench's own (workload.py's seeded generator rows, some features missing). The
app is ``create_app(Settings())`` as shipped (RED metrics, request log, tracing at 10 % not
exported, drift), its lifespan running, driven through ASGI with no HTTP server: the HTTP
server's own work (uvicorn, httptools, the kernel) is left out. Each stage is the code the route
runs, called alone on the same bodies; the figures are CPU time (the thread's for a stage, the
process's for a whole request, whose batch is predicted on a worker thread), the median over
calls, so another process on the core slows the wall clock but hardly the figures. ``non-model``
is the whole request less the model stage: what JSON decoding, validation, encoding, the
response and the telemetry cost.

The process pins itself to one core (``--core``) and reports the share of that core others used
meanwhile. Writes ``.run/bench/batch_breakdown.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.configs import BATCH

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".run" / "bench" / "batch_breakdown.json"
DEFAULT_CALLS = 40


def cpu_us_per_call(fn: Callable[[], Any], calls: int, clock: Callable[[], int]) -> float:
    """The median CPU µs of ``calls`` calls of ``fn`` (after a few unmeasured ones)."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(calls):
        start = clock()
        fn()
        samples.append((clock() - start) / 1e3)
    return statistics.median(samples)


def rotating(items: list[Any]) -> Iterator[Any]:
    while True:
        yield from items


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The request log's lines go to /dev/null (written, so still paid for)."""
    saved = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = saved


def batch_stages(
    state: Any, schemas: Any, bodies: list[bytes], parsed: list[Any], batches: list[Any]
) -> dict[str, tuple[Callable[[], Any], bool]]:
    """name -> (one call of the stage on the next body, whether it is in the non-model sum).
    The route's stages in its order, and two for reference: FastAPI's own parse-then-validate
    (what the route did before, and does still for a body it refuses), and the chunked predict
    as the route calls it (the encoding and the model, chunk by chunk)."""
    import orjson
    from pydantic import TypeAdapter

    from app.api.routes import BATCH_ROUTE, batch_outputs, prediction_id_prefix

    predictor = state.predictor
    output = state.card.output
    metrics, recorder = state.metrics, state.drift.recorder
    chunk_rows = state.settings.overload.batch_chunk_rows
    adapter = TypeAdapter(schemas.batch)
    dicts = [[row.__dict__ for row in b.rows] for b in batches]
    matrices = [predictor.encoder.encode_rows(d) for d in dicts]
    predictions = [predictor.predict(d) for d in dicts]
    body, doc, batch = rotating(bodies), rotating(parsed), rotating(batches)
    rows, matrix, done = rotating(dicts), rotating(matrices), rotating(predictions)

    def observe() -> None:
        p = next(done)
        metrics.observe_batch_size(len(p))
        metrics.observe_predictions(BATCH_ROUTE, p.probabilities, p.positives, 0.01)

    def respond() -> bytes:
        p = next(done)
        outputs = batch_outputs(
            prediction_id_prefix(), predictor.version, p.probabilities.tolist(),
            p.decisions.tolist(), output.probability_field, output.decision_field,
        )  # fmt: skip
        return orjson.dumps({"model_version": predictor.version, "predictions": outputs})

    return {
        "(FastAPI's path) parse: json.loads": (lambda: json.loads(next(body)), False),
        "(FastAPI's path) validate the parsed body": (
            lambda: adapter.validate_python(next(doc), from_attributes=True), False),
        "validate straight from the bytes (model_validate_json)": (
            lambda: schemas.batch.model_validate_json(next(body)), True),
        "rows as dicts (row.__dict__)": (lambda: [r.__dict__ for r in next(batch).rows], True),
        "encode (Encoder.encode_rows), whole batch": (
            lambda: predictor.encoder.encode_rows(next(rows)), True),
        "model (predict_matrix), whole batch": (
            lambda: predictor.predict_matrix(next(matrix)), False),
        f"(the route's) predict_in_chunks, {chunk_rows} rows a chunk": (
            lambda: predictor.predict_in_chunks(next(rows), chunk_rows, lambda _: None), False),
        "metrics (batch size, predictions)": (observe, True),
        "drift record": (lambda: recorder.record(next(matrix), next(done).probabilities), True),
        "response (batch_outputs + orjson.dumps)": (respond, True),
    }  # fmt: skip


async def _measure(calls: int) -> dict[str, Any]:
    # Imported here: the metrics' multiprocess directory is set first (main()).
    from app.api.schemas import build_schemas
    from app.main import create_app
    from app.settings import Settings
    from bench.instructions import _bodies, _drive

    app = create_app(Settings())
    bodies = _bodies(BATCH)
    rows_per_body = BATCH.rows
    async with app.router.lifespan_context(app):
        state = app.state.service
        schemas = build_schemas(state.card, state.settings.max_batch_rows)
        parsed = [json.loads(b) for b in bodies]
        batches = [schemas.batch.model_validate_json(b) for b in bodies]
        stages = batch_stages(state, schemas, bodies, parsed, batches)
        thread = time.thread_time_ns
        out: dict[str, Any] = {"stages_us_per_row": {}}
        for name, (fn, in_total) in stages.items():
            us = cpu_us_per_call(fn, calls, thread) / rows_per_body
            out["stages_us_per_row"][name] = {"us_per_row": us, "in_non_model_sum": in_total}

        async def whole() -> None:
            await _drive(app, BATCH, bodies, len(bodies))

        # The whole request: the process's CPU (the batch is predicted on a worker thread).
        for _ in range(2):
            await whole()
        samples = []
        for _ in range(max(1, calls // len(bodies))):
            start = time.process_time_ns()
            await whole()
            samples.append((time.process_time_ns() - start) / 1e3 / len(bodies))
        request_us = statistics.median(samples) / rows_per_body
    model = out["stages_us_per_row"]["model (predict_matrix), whole batch"]["us_per_row"]
    out["request_us_per_row"] = request_us
    out["model_us_per_row"] = model
    out["non_model_us_per_row"] = request_us - model
    out["stage_sum_us_per_row"] = sum(
        s["us_per_row"] for s in out["stages_us_per_row"].values() if s["in_non_model_sum"]
    )
    return out


def table(result: dict[str, Any]) -> str:
    lines = [f"/predict/batch, {BATCH.rows} rows, in-process CPU µs per row (median of calls):"]
    for name, stage in result["stages_us_per_row"].items():
        mark = "" if stage["in_non_model_sum"] else "  (not summed)"
        lines.append(f"  {name:58} {stage['us_per_row']:7.2f}{mark}")
    lines += [
        f"  {'sum of the non-model stages':58} {result['stage_sum_us_per_row']:7.2f}",
        f"  {'whole request through the app (as shipped)':58} {result['request_us_per_row']:7.2f}",
        f"  {'non-model: whole request less the model':58} {result['non_model_us_per_row']:7.2f}",
        f"  others' share of the core meanwhile: {result['noise']:.1%}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS, help="calls per stage")
    parser.add_argument("--core", type=int, default=0, help="the core to pin to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="glassbox-breakdown-") as tmp:
        # Before LightGBM (OpenMP reads its thread count when loaded: one thread, as
        # gunicorn.conf.py gives the workers) and prometheus-client are imported.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ.setdefault("GLASSBOX_LOG_FORMAT", "json")
        from bench.raw_model import on_core

        with quiet_stdout():
            result, noise = on_core(args.core, lambda: asyncio.run(_measure(args.calls)))
    result["noise"] = noise
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
