"""Model health's drift row: PSI per feature from the fleet rules, JS distance and statuses from
the pods' own reports, missing rates against the reference, each with its thresholds as the pods
export them (glassbox_drift_threshold)."""

from __future__ import annotations

from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as models

from grafana.panels import Look, Override, Query, dashed, state_timeline
from grafana.panels import time_series as ts
from grafana.queries import MODEL, SERVICE, by, increase, select

WINDOW = "window"
BINS = "glassbox_drift_bin_observations_total"
PER_FEATURE = ["model_version", "feature"]
FEATURE_LEGEND = "{{feature}} · {{model_version}}"
# The fleet rules' PSI per (namespace, job, model_version, feature): monitoring/rules/.
FLEET_PSI = "namespace_job_model_feature:glassbox_drift_psi:{window}"
STATUSES = [
    (-1, "insufficient data", "#808080"),
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
                "a feature above the warning line, worse above the drift line; high here "
                "while the fleet PSI stays low: one pod's traffic differs (a caller pinned to it).",
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
