"""Every overlay renders with the pinned kubectl, and every object it renders is valid: the
core ones against Kubernetes' own schemas (kubernetes-validate, strict: an unknown field is an
error), the Prometheus Operator's and KEDA's against their CRDs' models with unknown fields
refused. No cluster: what the API server would accept, checked statically."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate
import pydantic
import pytest
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.prometheus_operator.v1 import PodMonitor, PrometheusRule

from tests.support.kustomize import OVERLAYS, Object, of_kind, one, render

KUBERNETES_VERSION = "1.37"
# The custom resources, by kind: the models of their CRDs (cloudcoil-models-*).
CUSTOM: dict[str, type[pydantic.BaseModel]] = {
    "PodMonitor": PodMonitor,
    "PrometheusRule": PrometheusRule,
    "ScaledObject": ScaledObject,
}
AUTOSCALERS = ("HorizontalPodAutoscaler", "ScaledObject")
# `kubectl apply` (client-side) keeps the whole object as JSON in an annotation: 256 KiB at most.
ANNOTATION_LIMIT = 262_144


def validate_custom(obj: Object) -> None:
    """As the API server would take a custom resource: its CRD's fields, by their JSON names
    only, nothing unknown."""
    CUSTOM[obj["kind"]].model_validate(obj, extra="forbid", by_alias=True, by_name=False)


def validate(obj: Object) -> None:
    if obj["kind"] in CUSTOM:
        validate_custom(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_there_are_the_three_overlays() -> None:
    assert OVERLAYS == ["dev", "keda", "prod"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid(overlay: str) -> None:
    objects = render(overlay)
    assert objects
    for obj in objects:
        validate(obj)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_has_exactly_one_autoscaler(overlay: str) -> None:
    objects = render(overlay)
    assert sum(len(of_kind(objects, kind)) for kind in AUTOSCALERS) == 1
    target = next(o for o in objects if o["kind"] in AUTOSCALERS)["spec"]["scaleTargetRef"]
    deployment = one(objects, "Deployment")
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_fits_client_side_apply_s_annotation(overlay: str) -> None:
    for obj in render(overlay):
        size = len(json.dumps(obj, separators=(",", ":")).encode())
        assert size < ANNOTATION_LIMIT, (obj["kind"], obj["metadata"]["name"], size)


def test_prod_includes_the_monitoring_objects_and_dev_does_not() -> None:
    monitoring = {"PodMonitor", "PrometheusRule"}
    assert monitoring <= {o["kind"] for o in render("prod")}
    assert not monitoring & {o["kind"] for o in render("dev")}
    assert not [o for o in render("dev") if "grafana_dashboard" in o["metadata"].get("labels", {})]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_namespaced_object_is_in_the_overlay_s_namespace(overlay: str) -> None:
    namespaces = {o["metadata"].get("namespace") for o in render(overlay)}
    assert len(namespaces) == 1
    assert None not in namespaces


# The validation itself, on the rendered objects changed one field at a time.


def _changed(kind: str, change: Any) -> Object:
    obj = copy.deepcopy(one(render("keda" if kind == "ScaledObject" else "prod"), kind))
    change(obj["spec"])
    return obj


def test_a_misspelled_pod_monitor_field_is_refused() -> None:
    misspelled = _changed(
        "PodMonitor", lambda spec: spec.update(podMetricEndpoints=spec.pop("podMetricsEndpoints"))
    )
    with pytest.raises(pydantic.ValidationError, match="podMetricEndpoints"):
        validate(misspelled)


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("PodMonitor", lambda s: s["podMetricsEndpoints"][0].update(prot="admin"), "prot"),
        ("PodMonitor", lambda s: s.update(job_label=s.pop("jobLabel")), "job_label"),
        ("PrometheusRule", lambda s: s["groups"][0]["rules"][0].update(exp="1"), "exp"),
        ("ScaledObject", lambda s: s.update(minReplicas=s.pop("minReplicaCount")), "minReplicas"),
        ("ScaledObject", lambda s: s["triggers"][0].update(kind="prometheus"), "kind"),
    ],
)
def test_an_unknown_or_snake_case_custom_resource_field_is_refused(
    kind: str, change: Any, field: str
) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        validate(_changed(kind, change))


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("Deployment", lambda s: s["template"]["spec"].update(terminationGracePeriod=30)),
        (
            "Deployment",
            lambda s: s["template"]["spec"]["containers"][0]["ports"][0].update(
                containerPort="http"
            ),
        ),
        ("Service", lambda s: s["ports"][0].update(port="http")),
        ("HorizontalPodAutoscaler", lambda s: s.update(minReplica=2)),
    ],
)
def test_a_wrong_core_field_is_refused(kind: str, change: Any) -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(_changed(kind, change))


def test_keda_is_prod_with_a_scaled_object_in_place_of_the_hpa() -> None:
    def rest(objects: list[Object], kind: str) -> list[Object]:
        return sorted((o for o in objects if o["kind"] != kind), key=json.dumps)

    keda, prod = render("keda"), render("prod")
    assert rest(keda, "ScaledObject") == rest(prod, "HorizontalPodAutoscaler")
    scaled, hpa = one(keda, "ScaledObject"), one(prod, "HorizontalPodAutoscaler")
    assert scaled["metadata"]["namespace"] == hpa["metadata"]["namespace"]
    assert scaled["spec"]["minReplicaCount"] == hpa["spec"]["minReplicas"]
    assert scaled["spec"]["maxReplicaCount"] == hpa["spec"]["maxReplicas"]
