"""The balancer on the cluster: an HAProxy pod per node behind NodePort 30001,
one cookie key, so a session sticks whichever balancer pod a connection
meets; a crashed API pod costs only the request inside it; a balancer pod
deleted costs nothing."""

from __future__ import annotations

import time

from deploy import drill
from deploy.poller import Poller
from localservers.ports import wait_until
from tests.utils.cluster import URL, Cluster, Deployed, drill_target
from tests.utils.crash import check_crash_cost, is_running, process_tree
from tests.utils.stack import CookieClient, replica_of, total_visits

FRESH_CLIENTS = 12


def node_urls(cluster: Cluster) -> list[str]:
    """NodePort 30001 at every node's own address (this machine reaches the
    cluster's Docker network), after the published one on 127.0.0.1."""
    addresses = [
        address["address"]
        for node in cluster.json("get", "nodes")["items"]
        for address in node["status"]["addresses"]
        if address["type"] == "InternalIP"
    ]
    return [URL] + [f"http://{address}:30001/" for address in addresses]


def test_a_session_sticks_across_every_balancer_pod(cluster: Cluster, deployed: Deployed) -> None:
    balancers = cluster.json("get", "pods", "-l", "app.kubernetes.io/component=balancer")["items"]
    assert len(balancers) == 3
    session = CookieClient(URL)
    first = replica_of(session.get())
    # Each node's NodePort answers from that node's own balancer; each
    # request on a new connection: only the cookie can keep the replica.
    seen = []
    for url in node_urls(cluster):
        session.url = url.rstrip("/")
        seen += [replica_of(session.get()) for _ in range(5)]
    assert seen == [first] * len(seen)
    fresh = {replica_of(CookieClient(URL).get()) for _ in range(FRESH_CLIENTS)}
    assert len(fresh) >= 2, fresh


def node_proc(cluster: Cluster, node: str, path: str) -> str | None:
    result = cluster.node_exec("cat", path, node=node, check=False)
    return result.stdout if result.returncode == 0 else None


def main_pid(cluster: Cluster, node: str, pod: str) -> int:
    """The node-side PID of the pod's container's main process."""
    status = cluster.json("get", "pod", pod)["status"]["containerStatuses"][0]
    container_id = status["containerID"].removeprefix("containerd://")
    tasks = cluster.node_exec("ctr", "-n", "k8s.io", "task", "ls", node=node).stdout.splitlines()
    [pid] = [line.split()[1] for line in tasks if line.startswith(container_id)]
    return int(pid)


def test_a_crashed_api_pod_costs_only_the_request_in_flight(
    cluster: Cluster, deployed: Deployed
) -> None:
    # SIGKILL from the node: inside its own PID namespace the kernel ignores
    # a SIGKILL sent to the container's init, so only the node can crash it.
    session = CookieClient(URL)
    pod = replica_of(session.get())  # REPLICA_NAME is the pod's name
    restarts = cluster.json("get", "pod", pod)["status"]["containerStatuses"][0]["restartCount"]
    before = total_visits(URL)

    node = cluster.node_of(pod)

    def read(path: str) -> str | None:
        return node_proc(cluster, node, path)

    with Poller(URL) as poller:
        time.sleep(1)
        processes = process_tree(main_pid(cluster, node, pod), read)
        cluster.node_exec("kill", "-KILL", str(processes[0]), node=node)
        killed_at = poller.now()
        wait_until(
            lambda: not any(is_running(p, read) for p in processes), 10, "the pod's processes gone"
        )
        # Once the crash is complete, the session moves to another replica.
        assert session.get().status == 200
        time.sleep(5)

    def restarted() -> bool:
        status = cluster.json("get", "pod", pod)["status"]["containerStatuses"][0]
        return bool(status["restartCount"] > restarts and status["ready"])

    wait_until(restarted, 120, f"{pod} restarted and ready")

    check_crash_cost(poller.samples, killed_at, total_visits(URL) - before)


def test_deleting_a_balancer_pod_fails_no_request(cluster: Cluster, deployed: Deployed) -> None:
    (report,) = drill.run_drills(["balancer-delete"], drill_target(cluster))
    assert report.requests > 0
    assert not report.lost, report.summary()
    assert report.failed == 0, report.summary()
    assert report.ok, report.summary()
