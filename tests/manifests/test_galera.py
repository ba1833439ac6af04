"""k8s/ with the Galera component, rendered as `invoke k8s-deploy --database
galera` applies it: three database nodes in place of the single one."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.manifests.test_rendered import KUBERNETES_VERSION, container, pod_spec
from tests.utils.manifests import Obj, Rendered, assert_checkov_passes


def test_every_object_validates_strictly(rendered_galera: Rendered) -> None:
    for obj in rendered_galera.objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_checkov_passes_with_each_skip_justified(rendered_galera: Rendered, checkov: str) -> None:
    assert_checkov_passes(checkov, rendered_galera)


def test_the_single_database_is_gone_and_its_claim_untouched(rendered_galera: Rendered) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in rendered_galera.objects}
    for gone in ("Deployment", "db"), ("Service", "db"), ("NetworkPolicy", "db"):
        assert gone not in names
    # Not rendered, so `kubectl apply` leaves an existing claim and its data.
    assert ("PersistentVolumeClaim", "db-data") not in names


def test_three_nodes_one_per_node_each_with_its_own_claim(rendered_galera: Rendered) -> None:
    galera = rendered_galera.get("StatefulSet", "galera")
    assert galera["spec"]["replicas"] == 3
    assert galera["spec"]["podManagementPolicy"] == "Parallel"
    assert galera["spec"]["serviceName"] == "galera"
    [spread] = pod_spec(galera)["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == (
        "kubernetes.io/hostname",
        "DoNotSchedule",
    )
    [claim] = galera["spec"]["volumeClaimTemplates"]
    mounts = {m["mountPath"]: m["name"] for m in container(galera)["volumeMounts"]}
    assert mounts["/var/lib/mysql"] == claim["metadata"]["name"]
    service = rendered_galera.get("Service", "galera")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True


def test_a_budget_keeps_quorum(rendered_galera: Rendered) -> None:
    budget = rendered_galera.get("PodDisruptionBudget", "galera")
    assert budget["spec"]["maxUnavailable"] == 1


def test_credentials_come_from_the_secret_as_files(rendered_galera: Rendered) -> None:
    galera = rendered_galera.get("StatefulSet", "galera")
    env = {e["name"]: e.get("value") for e in container(galera)["env"]}
    assert env["MARIADB_PASSWORD_FILE"].startswith("/run/secrets/")
    assert env["MARIADB_ROOT_PASSWORD_FILE"].startswith("/run/secrets/")
    secret = rendered_galera.secret["metadata"]["name"]
    volumes = {v["name"]: v for v in pod_spec(galera)["volumes"]}
    assert volumes["db-credentials"]["secret"]["secretName"] == secret
    for password in rendered_galera.passwords.values():
        assert password not in str(galera)


def test_readiness_is_primary_and_synced_and_liveness_survives_a_transfer(
    rendered_galera: Rendered,
) -> None:
    galera = container(rendered_galera.get("StatefulSet", "galera"))
    scripts = rendered_galera.get("ConfigMap", configmap_name(rendered_galera))["data"]
    assert galera["readinessProbe"]["exec"]["command"][-2:] == [
        "/etc/visit-counter/galera-probe.sh",
        "ready",
    ]
    ready = scripts["galera-probe.sh"]
    assert "wsrep_cluster_status\\tPrimary" in ready
    assert "wsrep_local_state_comment\\tSynced" in ready
    # A joining node answers no ping until its state transfer is done: the
    # startup probe allows minutes, the liveness probe only runs after it.
    startup = galera["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_the_api_prefers_the_nodes_in_one_order(rendered_galera: Rendered) -> None:
    api = container(rendered_galera.get("Deployment", "api"))
    env = {e["name"]: e.get("value") for e in api["env"]}
    assert env["DB_HOST"] == "galera-0.galera,galera-1.galera,galera-2.galera"


@pytest.mark.parametrize("port", ["galera", "ist", "sst", "position"])
def test_only_database_pods_reach_the_replication_ports(
    rendered_galera: Rendered, port: str
) -> None:
    policy = rendered_galera.get("NetworkPolicy", "galera")
    allowed = [
        rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in policy["spec"]["ingress"]
        if port in [p["port"] for p in rule["ports"]]
    ]
    assert allowed == ["galera"]


def test_only_the_api_and_the_nodes_reach_sql(rendered_galera: Rendered) -> None:
    policy = rendered_galera.get("NetworkPolicy", "galera")
    allowed = sorted(
        rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in policy["spec"]["ingress"]
        if "mysql" in [p["port"] for p in rule["ports"]]
    )
    assert allowed == ["api", "galera"]


def configmap_name(rendered: Rendered) -> str:
    names: list[str] = [
        o["metadata"]["name"]
        for o in rendered.objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("galera-")
    ]
    (name,) = names
    return name


def galera_objects(rendered: Rendered) -> list[Obj]:
    return [
        o
        for o in rendered.objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "galera"
    ]


def test_every_galera_object_has_the_recommended_labels(rendered_galera: Rendered) -> None:
    objects = galera_objects(rendered_galera)
    assert {o["kind"] for o in objects} >= {
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ConfigMap",
    }
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "visit-counter"
