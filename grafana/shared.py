"""What both dashboards carry: their uids and titles (for the links between them), the variables
that pick the service, and the annotations of model version changes and worker restarts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as models

from grafana.queries import JOB, NAMESPACE, SERVICE, by, increase, select
from grafana.templating import annotation, datasource_variable, label_variable, link_to

SERVICE_OVERVIEW = ("glassbox-service-overview", "Glassbox service overview")
MODEL_HEALTH = ("glassbox-model-health", "Glassbox model health")

# One series per pod, on every pod from its start: the variables' source.
_POD_SERIES = "glassbox_model_info"


def service_variables() -> list[cogbuilder.Builder[models.VariableModel]]:
    namespace_description = (
        "Kubernetes namespaces running Glassbox. A plain Prometheus adds no namespace label: "
        "the list is then empty and All matches every series."
    )
    return [
        datasource_variable(),
        label_variable(
            NAMESPACE,
            "Namespace",
            f"label_values({_POD_SERIES}, namespace)",
            namespace_description,
        ),
        label_variable(
            JOB,
            "Job",
            f'label_values({_POD_SERIES}{{namespace=~"${NAMESPACE}"}}, job)',
            "The scrape jobs of Glassbox's pods (monitoring/slo.yaml's labels.job).",
        ),
    ]


def events() -> list[cogbuilder.Builder[models.AnnotationQuery]]:
    """Model version changes and worker restarts, on every panel of the dashboard."""
    versions = f"count by (namespace, job, model_version) ({select(_POD_SERIES, SERVICE)})"
    versions_before = (
        f"count by (namespace, job, model_version) ({select(_POD_SERIES, SERVICE)} offset 5m)"
    )
    starts = by(
        ["namespace", "job", "instance"],
        "sum",
        increase("glassbox_worker_starts_total", SERVICE, window="2m"),
    )
    return [
        annotation(
            "Model version changes",
            # A version that a job serves now and did not serve five minutes ago.
            f"{versions} unless {versions_before}",
            "Model {{model_version}} now serves {{job}}",
            ["job", "model_version"],
            "purple",
        ),
        annotation(
            "Worker restarts",
            # A pod's first workers are no restart: increase() ignores a new series' first value.
            f"{starts} > 0",
            "Worker restarted on {{instance}}",
            ["job", "instance"],
            "orange",
        ),
    ]


def link(target: tuple[str, str]) -> dashboard.DashboardLink:
    uid, title = target
    return link_to(title, uid)
