"""What surrounds the panels: the variables, the annotations, the links between the dashboards
and the dashboard itself (uid, tags, time range), the same on every dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as models

from grafana.panels import DATASOURCE, DATASOURCE_VARIABLE

# The provisioned data source's uid (grafana/provisioning/datasources/glassbox.yml): the default
# of the datasource variable; by hand, pick any Prometheus data source.
DATASOURCE_UID = "glassbox-prometheus"
DATASOURCE_NAME = "Glassbox Prometheus"
TAGS = ["glassbox"]


def datasource_variable() -> dashboard.DatasourceVariable:
    current = models.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID)
    return (
        dashboard.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .description("The Prometheus that scrapes Glassbox and evaluates its rules.")
        .type("prometheus")
        .current(current)
    )


def label_variable(name: str, label: str, query: str, description: str) -> dashboard.QueryVariable:
    """A ``label_values(...)`` variable, multi-value, "All" by default with the value ``.*``."""
    everything = models.VariableOption(selected=True, text=["All"], value=["$__all"])
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(everything)
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
    )


def choice_variable(
    name: str, label: str, query: str, description: str, default: str
) -> dashboard.QueryVariable:
    """A ``label_values(...)`` variable of one value, ``default`` until picked (Grafana takes
    the first value found when the default is not among them)."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .multi(False)
        .include_all(False)
        .current(models.VariableOption(selected=True, text=default, value=default))
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.NATURAL_ASC)
    )


class PrometheusAnnotation(models.AnnotationQuery):
    """An annotation query on the Prometheus data source: one event (or region) per series and
    step where ``expr`` has a value. The SDK's model lacks the fields that data source reads
    beside ``expr``: the step, the title and tags made from the series' labels."""

    def __init__(self, name: str, expr: str, title: str, tags: Sequence[str], color: str) -> None:
        super().__init__(name=name, datasource=DATASOURCE, icon_color=color, expr=expr)
        self.title_format = title
        self.tag_keys = ",".join(tags)

    def to_json(self) -> dict[str, object]:
        return {
            **super().to_json(),
            "step": "1m",
            "titleFormat": self.title_format,
            "tagKeys": self.tag_keys,
            "textFormat": "",
            "useValueForTime": False,
        }


@dataclass(frozen=True)
class _Built(cogbuilder.Builder[models.AnnotationQuery]):
    annotation: models.AnnotationQuery

    def build(self) -> models.AnnotationQuery:
        return self.annotation


def annotation(
    name: str, expr: str, title: str, tags: Sequence[str], color: str
) -> cogbuilder.Builder[models.AnnotationQuery]:
    return _Built(PrometheusAnnotation(name, expr, title, tags, color))


def link_to(title: str, uid: str) -> dashboard.DashboardLink:
    """A link to another dashboard by uid, carrying the variables and the time range along."""
    return (
        dashboard.DashboardLink(title)
        .type(models.DashboardLinkType.LINK)
        .url(f"/d/{uid}")
        .icon("dashboard")
        .tooltip(f"Open {title} with the same variables and time range")
        .include_vars(True)
        .keep_time(True)
    )


def frame(uid: str, title: str, description: str) -> dashboard.Dashboard:
    """The dashboard before its variables, annotations, links and panels."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
    )
