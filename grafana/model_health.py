"""Model health: which model serves and how ready and old it is, what it predicts, how its
inputs drift from the reference profile, and what it refuses, always split by model version so
a rollout never mixes two models."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as models

from grafana.panels import (
    Look,
    Override,
    Query,
    bar_chart,
    big_number,
    bucket_heatmap,
    dashed,
    emphasised,
    state_timeline,
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

WINDOW = "window"
BINS = "glassbox_drift_bin_observations_total"
PREDICTION = 'feature="_prediction"'
PER_VERSION = ["model_version"]
PER_FEATURE = ["model_version", "feature"]
FEATURE_LEGEND = "{{feature}} · {{model_version}}"
# The fleet rules' PSI per (namespace, job, model_version, feature): monitoring/rules/.
FLEET_PSI = "namespace_job_model_feature:glassbox_drift_psi:{window}"
STATUSES = [
    (-1, "insufficient data", "text"),
    (0, "ok", "green"),
    (1, "warning", "orange"),
    (2, "drift", "red"),
]


def _threshold_lines(statistic: str, mirrored: bool = False) -> list[Query]:
    """The drift statuses' thresholds of ``statistic``, as the pods export them."""
    levels = by(
        ["level"], "max", select("glassbox_drift_threshold", SERVICE, f'statistic="{statistic}"')
    )
    lines = [Query(levels, "{{level}} threshold")]
    return [*lines, Query(f"-{levels}", "-{{level}} threshold")] if mirrored else lines


_THRESHOLD_STYLE = [
    Override("-?warning threshold", dashed("orange")),
    Override("-?drift threshold", dashed("red")),
]


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


def _fleet_psi(window: str, label: str) -> Builder[models.Panel]:
    psi = select(FLEET_PSI.format(window=window), MODEL)
    return ts(
        Look(
            f"PSI per feature, fleet, {label}",
            f"Population stability index of each feature over the {label} against the "
            "reference profile, from the counts of all of a job's pods added up (the fleet "
            "recording rules; several jobs picked: the worst); dashed, the drift statuses' "
            "warning and drift thresholds.",
            "a feature above the warning line, worse above the drift line: its values no "
            "longer look like the training data's.",
        ),
        [
            Query(by(["model_version", "feature"], "max", psi), FEATURE_LEGEND),
            *_threshold_lines("psi"),
        ],
        "short",
        minimum=0,
        overrides=_THRESHOLD_STYLE,
    )


def drift() -> list[Builder[models.Panel]]:
    pods = f'{MODEL}, window=~"${WINDOW}"'
    js = by(PER_FEATURE, "max", select("glassbox_drift_js_distance", pods))
    status = by(PER_FEATURE, "max", select("glassbox_drift_status", pods))
    missing = increase(BINS, MODEL, 'bin="missing"', window="1h")
    every_value = increase(BINS, MODEL, 'feature!="_prediction"', window="1h")
    reference_missing = by(
        PER_FEATURE, "max", select("glassbox_drift_reference_missing_ratio", MODEL)
    )
    moved = (
        f"{by(PER_FEATURE, 'sum', missing)} / ({by(PER_FEATURE, 'sum', every_value)} > 0)"
        f" - {reference_missing}"
    )
    return [
        _fleet_psi("15m", "last 15 minutes"),
        _fleet_psi("1h", "last hour"),
        ts(
            Look(
                "JS distance per feature, worst pod",
                "Jensen-Shannon distance (base 2, 0 to 1) of each feature from the reference "
                "over the picked drift window, from the pods' own reports: the worst pod.",
                "a feature above the warning line, worse above the drift line; one pod alone "
                "high means its traffic differs (a caller pinned to it).",
            ),
            [Query(js, FEATURE_LEGEND), *_threshold_lines("js_distance")],
            "short",
            minimum=0,
            overrides=_THRESHOLD_STYLE,
        ),
        state_timeline(
            Look(
                "Drift status per feature",
                "Each feature's drift status over the picked window, the worst pod's: "
                "insufficient data below the minimum samples, then ok, warning or drift (PSI, "
                "JS distance or the missing rate past a threshold).",
                "orange (warning) or red (drift) bands; grey for long means too little traffic "
                "to judge.",
                height=10,
            ),
            [Query(status, FEATURE_LEGEND)],
            STATUSES,
        ),
        ts(
            Look(
                "Missing rate change per feature",
                "Each feature's share of missing values over the last hour minus its share in "
                "the reference profile; dashed, the warning and drift thresholds both ways.",
                "a feature past a dashed line: an upstream stopped sending it (up) or started "
                "filling it (down).",
                width=24,
            ),
            [
                Query(moved, FEATURE_LEGEND),
                *_threshold_lines("missing_rate_difference", mirrored=True),
            ],
            "percentunit",
            overrides=_THRESHOLD_STYLE,
        ),
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


ROWS = {"Model": model, "Predictions": predictions, "Drift": drift, "Inputs": inputs}


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
