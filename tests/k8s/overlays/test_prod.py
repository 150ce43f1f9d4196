"""The rendered prod overlay, read as the cluster gets it: the shutdown budget, the restricted
Pod Security profile, workers against the CPU request, the volumes where the settings point,
the ports, and the image."""

from __future__ import annotations

import math
import tomllib

import pytest

from tests.support.kustomize import Object, environment, of_kind, one, render
from tests.support.processes import ROOT

# README "In a pod": what a dead worker leaves in the multiprocess directory, measured by
# bench/multiprocess_footprint.py; the live workers' own files.
DEAD_WORKER_BYTES = 116 * 1024
LIVE_WORKER_BYTES = 128 * 1024
# The alert GlassboxMultiprocessFilesPiling's threshold (monitoring/service_alerts.py), files;
# a dead worker leaves 4 of them.
FILES_ALERT_THRESHOLD = 200
FILES_PER_DEAD_WORKER = 4
BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


@pytest.fixture(scope="module")
def objects() -> list[Object]:
    return render("prod")


@pytest.fixture(scope="module")
def pod(objects: list[Object]) -> Object:
    spec: Object = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: Object) -> Object:
    (only,) = pod["containers"]
    return only  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def env(objects: list[Object], container: Object) -> dict[str, str]:
    return environment(objects, container)


def quantity_bytes(quantity: str) -> int:
    for suffix, factor in BINARY.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def cpus(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_the_grace_period_covers_pre_stop_drain_graceful_timeout_and_a_margin(
    pod: Object, container: Object, env: dict[str, str]
) -> None:
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert "exec" not in container.get("lifecycle", {}).get("preStop", {}), "no shell in the image"
    drain = float(env["GLASSBOX_DRAIN_SECONDS"])
    graceful = float(env["GLASSBOX_GRACEFUL_TIMEOUT_SECONDS"])
    assert isinstance(pod["terminationGracePeriodSeconds"], int)
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + graceful + 5


def test_the_pod_meets_the_restricted_pod_security_standard(pod: Object) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
    assert pod["automountServiceAccountToken"] is False
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host), host
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "projected"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        assert not context["capabilities"].get("add")
        assert context["readOnlyRootFilesystem"] is True
        assert context.get("privileged", False) is False
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] > 10000  # a uid no host account has
        assert "hostPort" not in str(container["ports"])


def test_the_worker_count_is_the_cpu_request_and_there_is_no_cpu_limit(
    container: Object, env: dict[str, str]
) -> None:
    request = cpus(container["resources"]["requests"]["cpu"])
    threads = int(env.get("GLASSBOX_MODEL_THREADS", "1"))
    assert int(env["WEB_CONCURRENCY"]) * threads == request
    assert "cpu" not in container["resources"].get("limits", {})
    memory = container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"] == memory


def test_the_multiprocess_and_worker_tmp_directories_are_memory_backed_volumes(
    pod: Object, container: Object, env: dict[str, str]
) -> None:
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for setting in ("PROMETHEUS_MULTIPROC_DIR", "GLASSBOX_WORKER_TMP_DIR"):
        volume = volumes[mounts[env[setting]]]
        assert volume["emptyDir"]["medium"] == "Memory", setting
        assert not [m for m in container["volumeMounts"] if m.get("readOnly")], setting
    assert len(mounts) == 2, "no other writable path"


def test_the_multiprocess_volume_holds_far_more_than_the_files_alert_allows(
    pod: Object, container: Object, env: dict[str, str]
) -> None:
    """When the alert fires the volume must still be far from full (a full tmpfs kills the
    writing worker with SIGBUS): the threshold's dead workers and the live ones take less than
    a quarter of it."""
    mount = next(
        m for m in container["volumeMounts"] if m["mountPath"] == env["PROMETHEUS_MULTIPROC_DIR"]
    )
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    limit = quantity_bytes(volume["emptyDir"]["sizeLimit"])
    dead = math.ceil(FILES_ALERT_THRESHOLD / FILES_PER_DEAD_WORKER)
    at_alert = dead * DEAD_WORKER_BYTES + int(env["WEB_CONCURRENCY"]) * LIVE_WORKER_BYTES
    assert at_alert * 4 < limit


def test_the_alert_threshold_is_the_one_the_rules_use() -> None:
    rule = (ROOT / "monitoring" / "rules" / "service-alerts.rules.yml").read_text()
    block = rule.split("alert: GlassboxMultiprocessFilesPiling", 1)[1].split("- alert:", 1)[0]
    assert f"> {FILES_ALERT_THRESHOLD}" in block


def test_the_container_ports_are_named_and_are_the_settings(
    container: Object, env: dict[str, str]
) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": int(env["PORT"]), "admin": int(env["GLASSBOX_ADMIN_PORT"])}


def test_the_service_exposes_the_public_port_only(objects: list[Object], container: Object) -> None:
    (service,) = of_kind(objects, "Service")
    admin = next(p for p in container["ports"] if p["name"] == "admin")
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in (
            "http",
            next(p for p in container["ports"] if p["name"] == "http")["containerPort"],
        )
        assert port["targetPort"] not in ("admin", admin["containerPort"])
        assert port["port"] != admin["containerPort"]


def test_the_probes_use_the_public_port_and_the_documented_budgets(container: Object) -> None:
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    liveness = container["livenessProbe"]
    assert liveness["httpGet"] == {"path": "/healthz", "port": "http"}
    # README, Overload: "Liveness probe budget".
    assert (
        liveness["timeoutSeconds"],
        liveness["periodSeconds"],
        liveness["failureThreshold"],
    ) == (1, 10, 3)
    startup = container["startupProbe"]
    # Measured: up to 36 s to /readyz 200 on the loaded 2-core box (README); 3x that at least.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 3 * 36


def test_rollouts_never_go_below_the_replica_count_and_the_pdb_allows_one_eviction(
    objects: list[Object],
) -> None:
    strategy = one(objects, "Deployment")["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert one(objects, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1, "selector": one(objects, "Deployment")["spec"]["selector"],
    }  # fmt: skip
    assert one(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2


def test_pods_spread_over_nodes_and_zones(pod: Object) -> None:
    spread = {c["topologyKey"]: c["whenUnsatisfiable"] for c in pod["topologySpreadConstraints"]}
    assert spread["topology.kubernetes.io/zone"] == "ScheduleAnyway"
    assert "kubernetes.io/hostname" in spread


def test_the_pod_knows_its_name_and_namespace_and_its_collector(
    container: Object, env: dict[str, str]
) -> None:
    downward = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
        for e in container["env"]
        if "valueFrom" in e
    }
    assert downward == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
    assert float(env["GLASSBOX_LOG_SAMPLE_RATIO"]) < 1
    assert env["GLASSBOX_ENVIRONMENT"] == "prod"


def test_the_image_is_glassbox_at_the_project_s_version(container: Object) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"] == f"glassbox:{version}"


def test_the_network_policy_admits_the_public_port_and_the_admin_port_from_prometheus_only(
    objects: list[Object],
) -> None:
    (policy,) = of_kind(objects, "NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    rules = {
        port["port"]: rule["from"] for rule in policy["spec"]["ingress"] for port in rule["ports"]
    }
    assert set(rules) == {"http", "admin"}
    assert {"podSelector": {}} in rules["http"]
    assert len(rules["http"]) == 2, "the namespace and the ingress controller's"
    assert [list(peer) for peer in rules["admin"]] == [["namespaceSelector"]]
    egress = {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]}
    assert egress == {53, 4318}
