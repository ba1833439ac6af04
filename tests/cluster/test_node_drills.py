"""Losing a machine, on the three-node cluster, under a client polling every
50 ms through NodePort 30001: a worker drained, and a worker killed and
started again. The victim is a worker that runs an API pod but not the
database (one MariaDB pod: losing its node is an outage until the database
is replicated, as docs/kubernetes.md says)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import pytest

from deploy.poller import Poller
from localservers.ports import wait_until
from tests.utils.cluster import (
    KUBECONFIG,
    NAMESPACE,
    URL,
    Cluster,
    Deployed,
    failed,
    failed_but_one_in_flight,
)
from tests.utils.run import run
from tests.utils.stack import total_visits

REPLACED_WITHIN = 90  # seconds from a node's loss to three ready API pods elsewhere
REJOINED_WITHIN = 120  # seconds from a node's start to Ready
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget"


@pytest.fixture(autouse=True)
def three_nodes(cluster: Cluster) -> None:
    if len(cluster.nodes) < 3:
        pytest.skip("the node drills need three nodes (invoke cluster-up --nodes 3)")


def victim(cluster: Cluster) -> str:
    """A worker running an API pod, and not the database."""
    pods = cluster.json("get", "pods", "-n", NAMESPACE)["items"]
    on: defaultdict[str, set[str]] = defaultdict(set)  # component -> its nodes
    for pod in pods:
        on[pod["metadata"]["labels"].get("app.kubernetes.io/component")].add(
            pod["spec"].get("nodeName", "")
        )
    candidates = [w for w in cluster.workers if w in on["api"] and w not in on["db"]]
    assert candidates, f"no worker runs an API pod without the database: {on}"
    return candidates[0]


def ready_api_pods(cluster: Cluster) -> dict[str, str]:
    """Ready API pods, not being deleted: pod name -> node name."""
    ready = {}
    for pod in cluster.api_pods():
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") == "True":
            ready[pod["metadata"]["name"]] = pod["spec"]["nodeName"]
    return ready


def node_ready(cluster: Cluster, node: str) -> bool:
    jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'
    return cluster.kubectl("get", "node", node, "-o", f"jsonpath={jsonpath}", check=False) == "True"


@contextmanager
def fewest_ready(cluster: Cluster) -> Iterator[list[int]]:
    """The API Deployment's ready replicas, sampled twice a second while the
    block runs; yields a one-item list holding the fewest seen. Ready, as the
    budget counts them: it ignores minReadySeconds, so a replacement counts
    from its first ready probe (the evicted pod serves on through its 35 s
    preStop meanwhile, so the balancer never runs short)."""
    fewest = [3]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            status = cluster.json("get", "deployment", "api", "-n", NAMESPACE)["status"]
            fewest[0] = min(fewest[0], int(status.get("readyReplicas", 0)))
            done.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield fewest
    finally:
        done.set()
        thread.join(10)


def pods_by_node(cluster: Cluster, component: str) -> dict[str, list[str]]:
    """Each node's pods of one component, not those being deleted; a pod the
    scheduler has not placed yet is under ``""``."""
    placed: dict[str, list[str]] = {node: [] for node in cluster.nodes}
    selector = f"app.kubernetes.io/component={component}"
    for pod in cluster.json("get", "pods", "-n", NAMESPACE, "-l", selector)["items"]:
        if not pod["metadata"].get("deletionTimestamp"):
            node = pod["spec"].get("nodeName", "")
            placed.setdefault(node, []).append(pod["metadata"]["name"])
    return placed


def one_per_node(cluster: Cluster, component: str) -> bool:
    placed = pods_by_node(cluster, component)
    return set(placed) == set(cluster.nodes) and all(len(pods) == 1 for pods in placed.values())


def spread_again(cluster: Cluster) -> None:
    """One API pod and one balancer per node again, as a fresh deploy has
    them: a drained or lost node comes back empty, and the next drill needs
    a worker with an API pod. Deleting a pod from a node holding two of its
    kind puts the replacement on the empty node (the spread constraint)."""
    for component in ("api", "balancer"):
        for pods in pods_by_node(cluster, component).values():
            for extra in pods[1:]:
                cluster.kubectl("delete", "pod", extra, "-n", NAMESPACE, "--wait=false")
        wait_until(partial(one_per_node, cluster, component), 120, f"one {component} per node")
        cluster.kubectl(
            "rollout", "status", f"deployment/{component}", "-n", NAMESPACE, "--timeout=300s"
        )


def crowd(cluster: Cluster, node: str) -> None:
    """Two API pods on ``node``, the case a drain needs the budget for: with
    every other node cordoned, the spread constraint (which honours the
    cordon's taint) can only place the replacement of a pod deleted
    elsewhere on ``node``."""
    others = [other for other in cluster.nodes if other != node]
    for other in others:
        cluster.kubectl("cordon", other)
    try:
        [elsewhere, *_] = [p for p, where in ready_api_pods(cluster).items() if where != node]
        cluster.kubectl("delete", "pod", elsewhere, "-n", NAMESPACE, "--wait=false")
        wait_until(
            lambda: len(pods_by_node(cluster, "api")[node]) == 2, 120, f"two API pods on {node}"
        )
        cluster.kubectl("rollout", "status", "deployment/api", "-n", NAMESPACE, "--timeout=300s")
    finally:
        for other in others:
            cluster.kubectl("uncordon", other)


def test_draining_a_worker_fails_no_request_and_keeps_the_budget(
    cluster: Cluster, deployed: Deployed
) -> None:
    node = victim(cluster)
    crowd(cluster, node)
    before = total_visits(URL)
    try:
        with Poller(URL) as poller, fewest_ready(cluster) as fewest:
            time.sleep(1)
            drain = run(
                cluster.kubectl_path, "--kubeconfig", str(KUBECONFIG), "drain", node,
                "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s", timeout=330,
            )  # fmt: skip
            cluster.kubectl(
                "rollout", "status", "deployment/api", "-n", NAMESPACE, "--timeout=300s"
            )
            cluster.kubectl(
                "rollout", "status", "deployment/balancer", "-n", NAMESPACE, "--timeout=300s"
            )
            time.sleep(1)
        after = total_visits(URL)
        left = cluster.json(
            "get", "pods", "-n", NAMESPACE, "--field-selector", f"spec.nodeName={node}"
        )
    finally:
        cluster.kubectl("uncordon", node)
        spread_again(cluster)
    samples = poller.samples
    assert samples
    assert not failed(samples), failed(samples)[:5]
    assert after - before == sum(s.status == 200 for s in samples), "a visit was lost or doubled"
    # The budget (2 of 3 API pods) held the second eviction back until the
    # first pod's replacement was ready, and the node was emptied.
    assert REFUSED in drain.stderr, drain.stderr
    assert fewest[0] >= 2, fewest
    assert left["items"] == []
    assert len(ready_api_pods(cluster)) == 3


def test_a_killed_worker_is_replaced_within_90_s_and_rejoins_when_started(
    cluster: Cluster, deployed: Deployed
) -> None:
    node = victim(cluster)
    container = cluster.nodes[node]
    before = total_visits(URL)
    try:
        with Poller(URL) as poller:
            time.sleep(1)
            killed_at = poller.now()
            run("docker", "kill", container)
            killed = time.monotonic()

            def replaced() -> bool:
                ready = ready_api_pods(cluster)
                return len(ready) == 3 and node not in ready.values()

            wait_until(replaced, REPLACED_WITHIN + 30, "three ready API pods on the other nodes")
            replaced_after = time.monotonic() - killed
            time.sleep(2)
        after = total_visits(URL)
    finally:
        run("docker", "start", container)
    started = time.monotonic()
    wait_until(lambda: node_ready(cluster, node), REJOINED_WITHIN, f"{node} Ready again")
    rejoined_after = time.monotonic() - started
    spread_again(cluster)
    samples = poller.samples
    print(
        f"\nnode kill: replaced in {replaced_after:.1f}s, rejoined in {rejoined_after:.1f}s,"
        f" {len(samples)} requests, {len(failed(samples))} failed"
    )
    assert replaced_after <= REPLACED_WITHIN
    assert after - before == sum(s.status == 200 for s in samples), "a visit was lost or doubled"
    failures = failed_but_one_in_flight(samples, killed_at)
    assert not failures, failures[:5]
