"""Model health: which model serves and how ready and old it is, what it predicts, how its
inputs drift from the reference profile, and what it refuses, always split by model version so
a rollout never mixes two models."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as models

from grafana import drift_panels
from grafana.drift_panels import BINS, WINDOW
from grafana.panels import (
    Look,
    Override,
    Query,
    bar_chart,
    big_number,
    bucket_heatmap,
    emphasised,
)
from grafana.panels import time_series as ts
from grafana.queries import (
    JOB,
    MODEL,
    MODEL_VERSION,
    NAMESPACE,
    SERVICE,
    by,
    increase,
    rate,
    select,
)
from grafana.shared import MODEL_HEALTH, SERVICE_OVERVIEW, events, link, service_variables
from grafana.templating import choice_variable, frame, label_variable

PREDICTION = 'feature="_prediction"'
PER_VERSION = ["model_version"]


def variables() -> list[Builder[models.VariableModel]]:
    service = f'namespace=~"${NAMESPACE}", job=~"${JOB}"'
    return [
        *service_variables(),
        label_variable(
            MODEL_VERSION,
            "Model version",
            f"label_values(glassbox_model_info{{{service}}}, model_version)",
            "The model versions the picked jobs serve (the card's name and version).",
        ),
        choice_variable(
            WINDOW,
            "Drift window",
            f"label_values(glassbox_drift_status{{{service}}}, window)",
            "The window of the pods' own drift reports (GLASSBOX_DRIFT_WINDOWS_SECONDS).",
            "900s",
        ),
    ]


def model() -> list[Builder[models.Panel]]:
    ready = select("glassbox_model_ready", MODEL)
    trained = by(
        ["model_version"], "max", select("glassbox_model_trained_timestamp_seconds", MODEL)
    )
    return [
        ts(
            Look(
                "Pods per model version",
                "How many pods serve each model version (glassbox_model_info).",
                "two versions for longer than a rollout takes, or a version nobody meant to "
                "deploy.",
                width=8,
            ),
            [
                Query(
                    by(["model_version"], "count", select("glassbox_model_info", MODEL)),
                    "{{model_version}}",
                )
            ],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Model readiness",
                "Share of each version's pods whose every live worker has the model loaded "
                "(glassbox_model_ready).",
                "below 100 %: those pods answer 503 and fail readiness (a bad model artifact, "
                "a worker that could not load it).",
                width=8,
            ),
            [
                Query(
                    f"{by(PER_VERSION, 'sum', ready)} / {by(PER_VERSION, 'count', ready)}",
                    "{{model_version}}",
                )
            ],
            "percentunit",
            minimum=0,
        ),
        big_number(
            Look(
                "Model age",
                "Time since each serving model version was trained.",
                "older than your retraining cadence: orange after 30 days, red after 90 (set "
                "the thresholds to yours).",
                width=8,
            ),
            [Query(f"time() - {trained}", "{{model_version}}")],
            "s",
            [(None, "green"), (30 * 86400, "orange"), (90 * 86400, "red")],
        ),
    ]


def predictions() -> list[Builder[models.Panel]]:
    last_hour = increase(BINS, MODEL, PREDICTION, window="1h")
    observed = f"{by(['bin'], 'sum', last_hour)} / on () group_left () (sum({last_hour}) > 0)"
    reference = by(["bin"], "max", select("glassbox_drift_reference_proportion", MODEL, PREDICTION))
    return [
        ts(
            Look(
                "Predictions per second by outcome and model version",
                "Predicted rows per second by outcome, per model version.",
                "the outcomes' mix moving while traffic is steady (the model or its inputs "
                "changed), or a version's rows falling to zero while it still serves.",
                width=24,
            ),
            [
                Query(
                    by(
                        ["model_version", "outcome"],
                        "sum",
                        rate("glassbox_predictions_total", MODEL),
                    ),
                    "{{outcome}} · {{model_version}}",
                )
            ],
            "short",
            minimum=0,
        ),
        bucket_heatmap(
            Look(
                "Predicted probability over time",
                "How many predictions per second fall in each bin of the positive-class "
                "probability (the reference profile's bins), one panel per model version.",
                "the band moving up or down, or splitting in two, while the reference does "
                "not (next panel): the inputs or the population changed.",
                width=24,
            ),
            Query(
                by(["le"], "sum", rate("glassbox_prediction_probability_bucket", MODEL)), "{{le}}"
            ),
            "percentunit",
        )
        .repeat(MODEL_VERSION)
        .repeat_direction("h")
        .max_per_row(2),
        bar_chart(
            Look(
                "Predicted probability: last hour against the reference",
                "Share of the last hour's predictions in each probability bin beside the "
                "reference profile's share, one panel per model version.",
                "bars of the two colours far apart in any bin: the model now predicts for a "
                "population unlike the one it was profiled on (the _prediction PSI below).",
                width=24,
            ),
            [Query(observed, instant=True, table=True), Query(reference, instant=True, table=True)],
            "bin",
            {"Value #A": "last hour", "Value #B": "reference"},
            "percentunit",
        )
        .repeat(MODEL_VERSION)
        .repeat_direction("h")
        .max_per_row(2),
    ]


def inputs() -> list[Builder[models.Panel]]:
    failures = "glassbox_validation_failures_total"
    return [
        ts(
            Look(
                "Validation failures by field and reason",
                "Rejected inputs per second by field and reason (missing, type, out_of_bounds, "
                "unknown_category, extra_field, body), every route; unknown categories drawn "
                "thick and red.",
                "a rise on one field: a caller's schema changed; unknown_category means a "
                "category the model was never trained on.",
            ),
            [
                Query(
                    by(["field", "reason"], "sum", rate(failures, SERVICE)), "{{field}}: {{reason}}"
                )
            ],
            "short",
            minimum=0,
            overrides=[Override(".*: unknown_category", emphasised("red"))],
        ),
        ts(
            Look(
                "Unknown categories by field",
                "Inputs refused per second because a categorical field held a category the "
                "model card does not know, per field.",
                "anything above zero: a new category upstream (a new plan, a new region); the "
                "model needs retraining before it can score those rows.",
            ),
            [
                Query(
                    by(["field"], "sum", rate(failures, SERVICE, 'reason="unknown_category"')),
                    "{{field}}",
                )
            ],
            "short",
            minimum=0,
        ),
    ]


ROWS = {
    "Model": model,
    "Predictions": predictions,
    "Drift": drift_panels.drift,
    "Inputs": inputs,
}


def build() -> models.Dashboard:
    uid, title = MODEL_HEALTH
    board = frame(
        uid,
        title,
        "Glassbox's model: versions, readiness and age, predictions, drift against the "
        "reference profile and rejected inputs, split by model version.",
    )
    board = board.variables(variables()).annotations(events()).link(link(SERVICE_OVERVIEW))
    for row, panels in ROWS.items():
        board = board.with_row(dashboard.Row(row))
        for panel in panels():
            board = board.with_panel(panel)
    return board.build()
