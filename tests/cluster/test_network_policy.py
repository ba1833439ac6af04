"""The project's NetworkPolicies are enforced, not just accepted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.utils.cluster import Cluster, Deployed

INTRUDER = "netpol-intruder"
# A pod of the API's image but without the API's labels: only the labels
# differ from an API pod, so only the policy can tell them apart.
GREETING = (
    "import socket; s = socket.create_connection(('db', 3306), timeout=5);"
    " print(s.recv(128)[5:].split(b'\\0')[0].decode())"
)


def database_node(cluster: Cluster) -> str:
    [pod] = cluster.json("get", "pods", "-l", "app.kubernetes.io/component=db")["items"]
    return str(pod["spec"]["nodeName"])


@pytest.fixture(scope="module")
def intruder(cluster: Cluster, deployed: Deployed) -> Iterator[str]:
    # On another node than the database's where there is one, so the policy
    # holds across nodes, where the packets travel between node containers.
    elsewhere = [node for node in cluster.nodes if node != database_node(cluster)]
    node = elsewhere[0] if elsewhere else ""
    with cluster.idle_pod(INTRUDER, "visit-counter-api:dev", "intruder", node) as pod:
        yield pod


def test_every_api_pod_gets_the_database_greeting(cluster: Cluster, deployed: Deployed) -> None:
    # One API pod per node: all but one reach the database on another node.
    for pod in cluster.api_pods():
        name = pod["metadata"]["name"]
        version = cluster.kubectl("exec", name, "--", "python", "-c", GREETING).strip()
        assert version.startswith("11.8"), (name, version)


def test_a_pod_without_the_api_labels_cannot_reach_the_database(
    cluster: Cluster, intruder: str
) -> None:
    result = cluster.kubectl("exec", intruder, "--", "python", "-c", GREETING, check=False)
    assert "11.8" not in result
    # The same pod does reach the balancer (its policy admits everyone on
    # 8000), so the refusal above is the database's policy, not a broken pod
    # network.
    assert healthz(cluster, intruder, "balancer") == "200"


def healthz(cluster: Cluster, pod: str, host: str) -> str:
    """GET http://HOST:8000/healthz from ``pod``: the status, or the error's name."""
    script = (
        "import urllib.request\n"
        f"try: print(urllib.request.urlopen('http://{host}:8000/healthz', timeout=5).status)\n"
        "except Exception as e: print(type(e).__name__)"
    )
    return cluster.kubectl("exec", pod, "--", "python", "-c", script, check=False).strip()


def test_only_the_balancer_reaches_the_api(cluster: Cluster, intruder: str) -> None:
    # Every client goes through the balancer: a pod that is not one cannot
    # reach an API pod directly (the headless name resolves to the pods).
    assert healthz(cluster, intruder, "api") != "200"
    balancer = cluster.json("get", "pods", "-l", "app.kubernetes.io/component=balancer")
    assert balancer["items"], "no balancer pod"
