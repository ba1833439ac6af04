"""``invoke k8s-deploy`` from scratch, and what it leaves in the cluster."""

from __future__ import annotations

import base64
import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.api_client import request
from deploy.commands import DeployError
from tests.utils.cluster import NAMESPACE, URL, Cluster, Deployed, deploy, secret_values


def test_three_distinct_replicas_answer_on_the_node_port(
    cluster: Cluster, deployed: Deployed
) -> None:
    assert len(set(deployed.survey.replicas)) == 3
    pods = {pod["metadata"]["name"] for pod in cluster.api_pods()}
    assert set(deployed.survey.replicas) == pods
    answer = request(URL, accept="text/plain")
    assert answer.status == 200
    assert answer.body.startswith("Hello from api-")


def test_the_pods_serve_metrics_and_invite_scraping(cluster: Cluster, deployed: Deployed) -> None:
    # Read-only root filesystem: the multiprocess files live in the /tmp emptyDir.
    answer = request(f"{URL}metrics")
    assert answer.status == 200, answer.body
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.body)
        for sample in family.samples
    }
    assert samples["visit_counter_database_up"] == 1
    assert "visit_counter_visits_total" in samples
    for pod in cluster.api_pods():
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == "8000"
        assert annotations["prometheus.io/path"] == "/metrics"


def test_the_claim_is_bound_by_the_clusters_default_storage(
    cluster: Cluster, deployed: Deployed
) -> None:
    claim = cluster.json("get", "pvc", "db-data", "-n", NAMESPACE)
    assert claim["status"]["phase"] == "Bound"
    classes = cluster.json("get", "storageclass")["items"]
    defaults = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert claim["spec"]["storageClassName"] in defaults


def test_the_passwords_are_files_from_the_secret_and_nowhere_else(
    cluster: Cluster, deployed: Deployed
) -> None:
    passwords = [v for k, v in secret_values().items() if "PASSWORD" in k]
    assert passwords
    pod = cluster.api_pods()[0]["metadata"]["name"]
    mounted = cluster.kubectl("exec", pod, "--", "cat", "/run/secrets/visit-counter/DB_PASSWORD")
    assert mounted == secret_values()["DB_PASSWORD"]
    environment = cluster.kubectl("exec", pod, "--", "env")
    assert not any(p in environment for p in passwords)

    kinds = "deployments,replicasets,pods,services,configmaps,persistentvolumeclaims,networkpolicies,secrets"
    objects = cluster.json("get", kinds, "-n", NAMESPACE)["items"]
    holders = set()
    for obj in objects:
        text = json.dumps(obj)
        encoded = [base64.b64encode(p.encode()).decode() for p in passwords]
        if any(p in text for p in passwords + encoded):
            holders.add((obj["kind"], obj["metadata"]["name"]))
    assert holders
    assert {kind for kind, _ in holders} == {"Secret"}, holders


def test_a_second_deploy_with_nothing_changed_rolls_nothing(
    cluster: Cluster, deployed: Deployed
) -> None:
    pods_before = {pod["metadata"]["name"] for pod in cluster.api_pods()}
    deploy(cluster)
    assert {pod["metadata"]["name"] for pod in cluster.api_pods()} == pods_before


def test_a_second_copy_in_another_namespace_is_refused_before_anything_is_made(
    cluster: Cluster, deployed: Deployed
) -> None:
    # The NodePort is cluster-wide: a second copy would fail half-way through
    # `kubectl apply`, after creating everything else.
    with pytest.raises(DeployError) as refused:
        deploy(cluster, namespace="second-copy", build=False)
    assert "\n" not in str(refused.value)
    assert "30001" in str(refused.value)
    assert cluster.kubectl("get", "namespace", "second-copy", "--ignore-not-found").strip() == ""
