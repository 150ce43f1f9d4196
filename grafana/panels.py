"""Panels as both dashboards build them with grafana-foundation-sdk: every panel and every query
on the ``datasource`` variable, every panel with a description of what it shows and what bad
looks like, every query with a fixed refId."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from grafana_foundation_sdk.builders import (
    barchart,
    common,
    dashboard,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    timeseries,
)
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import heatmap as heatmap_models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")

_Panel = TypeVar(
    "_Panel", timeseries.Panel, stat.Panel, heatmap.Panel, statetimeline.Panel, barchart.Panel
)


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel; ``legend`` is Grafana's legend format (``{{label}}``)."""

    expr: str
    legend: str = "__auto"
    instant: bool = False
    table: bool = False


@dataclass(frozen=True)
class Look:
    """What a panel is for: its title, what it shows, what bad looks like, and its size."""

    title: str
    shows: str
    bad: str
    width: int = 12
    height: int = 8

    def description(self) -> str:
        return f"{self.shows} Bad: {self.bad}"


def _target(query: Query, ref: str, heatmap_format: bool) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref)
    target = target.datasource(DATASOURCE)
    if query.instant:
        target = target.instant()
    if query.table:
        target = target.format(PromQueryFormat.TABLE)
    elif heatmap_format:
        target = target.format(PromQueryFormat.HEATMAP)
    return target


def _dress(panel: _Panel, look: Look, queries: Sequence[Query], heatmap_format: bool) -> _Panel:
    panel = panel.title(look.title).description(look.description()).datasource(DATASOURCE)
    panel = panel.span(look.width).height(look.height)
    for i, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + i), heatmap_format))
    return panel


def _legend() -> common.VizLegendOptions:
    return (
        common.VizLegendOptions()
        .display_mode(common_models.LegendDisplayMode.LIST)
        .placement(common_models.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def dashed(color: str) -> list[models.DynamicConfigValue]:
    """Properties of a reference or threshold line: dashed, one colour, never stacked."""
    return [
        models.DynamicConfigValue(
            id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
        ),
        models.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
        models.DynamicConfigValue(id_val="custom.fillOpacity", value=0),
    ]


def emphasised(color: str) -> list[models.DynamicConfigValue]:
    """Properties of the series that must stand out: thick and in one colour."""
    return [
        models.DynamicConfigValue(id_val="custom.lineWidth", value=4),
        models.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
    ]


@dataclass(frozen=True)
class Override:
    """Field properties for the series whose display name matches ``regexp`` (whole name)."""

    regexp: str
    properties: list[models.DynamicConfigValue]


def time_series(
    look: Look,
    queries: Sequence[Query],
    unit: str,
    *,
    minimum: float | None = None,
    overrides: Sequence[Override] = (),
    lines: Sequence[tuple[float, str]] = (),
) -> timeseries.Panel:
    """Lines per series; ``lines``: constant levels drawn dashed, (value, colour)."""
    panel = _dress(timeseries.Panel(), look, queries, heatmap_format=False).unit(unit)
    panel = panel.legend(_legend()).fill_opacity(10).line_width(1).span_nulls(False)
    if minimum is not None:
        panel = panel.min(minimum)
    if lines:
        steps = [models.Threshold(value=None, color="transparent")]
        steps += [models.Threshold(value=v, color=c) for v, c in lines]
        panel = panel.thresholds(
            dashboard.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)
        )
        style = common.GraphThresholdsStyleConfig().mode(
            common_models.GraphThresholdsStyleMode.DASHED
        )
        panel = panel.thresholds_style(style)
    for override in overrides:
        panel = panel.override_by_regexp(f"/^{override.regexp}$/", override.properties)
    return panel


def big_number(
    look: Look, queries: Sequence[Query], unit: str, steps: Sequence[tuple[float | None, str]]
) -> stat.Panel:
    """A stat panel coloured by ``steps``: (lower bound, colour), the first bound None."""
    thresholds = dashboard.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE)
    thresholds = thresholds.steps([models.Threshold(value=v, color=c) for v, c in steps])
    panel = _dress(stat.Panel(), look, queries, heatmap_format=False).unit(unit)
    panel = panel.thresholds(thresholds).color_mode(common_models.BigValueColorMode.BACKGROUND)
    return panel.graph_mode(common_models.BigValueGraphMode.AREA)


def bucket_heatmap(look: Look, query: Query, unit: str) -> heatmap.Panel:
    """A heatmap of a Prometheus histogram's buckets as they are (Grafana computes nothing)."""
    color = heatmap.HeatmapColorOptions().mode(heatmap_models.HeatmapColorMode.SCHEME)
    color = color.scheme("Oranges").exponent(0.5).steps(64)
    panel = _dress(heatmap.Panel(), look, [query], heatmap_format=True).calculate(False)
    return panel.y_axis(heatmap.YAxisConfig().unit(unit)).color(color).show_y_histogram()


def state_timeline(
    look: Look, queries: Sequence[Query], states: Sequence[tuple[int, str, str]]
) -> statetimeline.Panel:
    """A state timeline whose values ``states`` names: (value, text, colour)."""
    mapping = models.ValueMap(
        options={
            str(value): models.ValueMappingResult(text=text, color=color, index=i)
            for i, (value, text, color) in enumerate(states)
        }
    )
    panel = _dress(statetimeline.Panel(), look, queries, heatmap_format=False)
    panel = panel.mappings([mapping]).legend(_legend()).merge_values(True)
    return panel.show_value(common_models.VisibilityMode.NEVER).fill_opacity(80)


def bar_chart(
    look: Look, queries: Sequence[Query], x_field: str, names: dict[str, str], unit: str
) -> barchart.Panel:
    """Bars per ``x_field`` value, one colour per instant table query: the queries' rows are
    merged on their labels, their ``Value #<refId>`` columns renamed by ``names``."""
    hidden = {"Time": True, "model_version": True}
    panel = _dress(barchart.Panel(), look, queries, heatmap_format=False).unit(unit)
    panel = panel.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
    panel = panel.with_transformation(
        models.DataTransformerConfig(id_val="sortBy", options={"sort": [{"field": x_field}]})
    )
    panel = panel.with_transformation(
        models.DataTransformerConfig(
            id_val="organize", options={"excludeByName": hidden, "renameByName": names}
        )
    )
    return panel.x_field(x_field).legend(_legend()).x_tick_label_rotation(-45)
