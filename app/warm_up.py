"""Before a worker says it is ready, every path a served prediction takes runs once on the
card's example rows: the body validators (one row and a batch, from bytes), the encoder and the
engine (one row, and rows in chunks), the response's JSON encoder, the worker's drift counts
file (opened, nothing added), the request line's renderer,
a span's creation and its OTLP encoding. The first requests of a rollout then do not pay for
what first calls build (0.5-8 ms for a worker's first request before; README: Performance).

Nothing is counted, recorded, logged or exported: the metrics, the drift counts, the request log
and the span account hold served requests only. The span is made by a provider of its own, with
no processor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from app.api.schemas import Schemas, example_rows
from app.fast_paths import FastPaths
from app.fast_paths.otlp_export import OTLP_EXPORT, encode_spans
from app.model.card import ModelCard
from app.model.predictor import Predictor
from app.telemetry.logging import RequestLog


def warm_up(
    predictor: Predictor,
    schemas: Schemas,
    card: ModelCard,
    request_log: RequestLog | None,
    fast_paths: FastPaths,
    prepare_counts: Callable[[], None] = lambda: None,
) -> None:
    """``prepare_counts`` opens this worker's drift counts file, counting nothing."""
    prepare_counts()
    examples = example_rows(card)
    rows: list[dict[str, Any]] = [
        schemas.row.model_validate_json(orjson.dumps(example)).__dict__ for example in examples
    ]
    schemas.batch.model_validate_json(orjson.dumps({"rows": examples}))
    single = predictor.predict(rows[:1])
    predictor.predict_in_chunks(rows, 1, lambda rows_done: None)
    output = card.output
    orjson.dumps({
        "prediction_id": "0" * 32, output.probability_field: float(single.probabilities[0]),
        output.decision_field: bool(single.decisions[0]), "model_version": predictor.version,
    })  # fmt: skip
    if request_log is not None:
        request_log.warm()
    provider = TracerProvider(sampler=ALWAYS_ON, shutdown_on_exit=False)
    span = provider.get_tracer("glassbox.warm_up").start_span(
        "warm-up", attributes={"glassbox.rows": len(rows)}
    )
    span.end()
    if isinstance(span, ReadableSpan):  # not with OTEL_SDK_DISABLED: no span is recorded
        encode: Callable[[Sequence[ReadableSpan]], object] = (
            encode_spans if fast_paths.on(OTLP_EXPORT) else sdk_encode
        )
        encode([span])
