"""The local cluster's nodes (cluster/up.sh): each a container with a fixed
address on the cluster's own network, the control plane labelled as such,
workers joined with credentials of their own, and the API's pods spread one
per node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.utils.cluster import Cluster, Deployed
from tests.utils.run import run

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def ready(node: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    return conditions.get("Ready") == "True"


def test_every_node_is_ready_at_its_fixed_address(cluster: Cluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.json("get", "nodes")["items"]}
    assert set(nodes) == set(cluster.nodes)
    for index, (name, container) in enumerate(cluster.nodes.items()):
        node = nodes[name]
        assert ready(node), name
        [internal] = [
            a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"
        ]
        networks = json.loads(
            run(
                "docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", container
            ).stdout
        )
        [network] = networks.values()
        # Asked for, not handed out: .10 for the control plane, .11 and up
        # for the workers, so a node keeps its address across a restart.
        assert network["IPAMConfig"]["IPv4Address"] == internal, name
        assert internal.endswith(f".{10 + index}"), (name, internal)
        labels = node["metadata"]["labels"]
        assert (CONTROL_PLANE_LABEL in labels) == (name == cluster.control_plane), labels


def test_workers_joined_with_a_node_identity_not_the_admins(cluster: Cluster) -> None:
    if not cluster.workers:
        pytest.skip("a one-node cluster has no workers")
    for worker in cluster.workers:
        kubelet = ("kubectl", "--kubeconfig", "/etc/kubernetes/kubelet.conf")
        whoami = cluster.node_exec(
            *kubelet, "auth", "whoami", "--output", "jsonpath={.status.userInfo}", node=worker
        )
        user = json.loads(whoami.stdout)
        assert user["username"] == f"system:node:{worker}"
        assert "system:nodes" in user["groups"]
        # The Node authorizer keeps a kubelet to what its own pods need.
        secrets = cluster.node_exec(*kubelet, "get", "secrets", "-A", node=worker, check=False)
        assert secrets.returncode != 0
        assert "Forbidden" in secrets.stderr
        leftovers = cluster.node_exec(
            "ls", "/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf",
            "/etc/kubernetes/pki/ca.key", node=worker, check=False,
        )  # fmt: skip
        assert leftovers.stdout.strip() == "", "no admin credential or CA key on a worker"


def test_the_api_pods_run_one_per_node(cluster: Cluster, deployed: Deployed) -> None:
    if len(cluster.nodes) < 3:
        pytest.skip("one pod per node needs three nodes")
    nodes = [pod["spec"]["nodeName"] for pod in cluster.api_pods()]
    assert len(nodes) == 3
    assert len(set(nodes)) == 3, nodes
