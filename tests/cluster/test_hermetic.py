"""Nothing started inside the cluster opens a connection off the cluster,
from any of its nodes.

The proof needs no traffic off the machine: a listener on the host's side of
the cluster's Docker network (the bridge gateway, on this machine) stands for
"anywhere off the cluster". Without a node's firewall a pod or a node process
reaches it; with it, the connection is refused at once and the listener never
sees it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial

import pytest

from tests.utils.cluster import Cluster
from tests.utils.run import run

PROBE_POD = "hermetic-probe"
PROBE_IMAGE = "docker.io/library/debian:trixie-slim"  # imported into the node by cluster-up


class Listener:
    """A TCP server on the host's side of the node's network, counting accepts."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.accepted = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="module")
def listener(cluster: Cluster) -> Iterator[Listener]:
    networks = json.loads(
        run(
            "docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}",
            cluster.nodes[cluster.control_plane],
        ).stdout
    )  # fmt: skip
    gateway = next(iter(networks.values()))["Gateway"]
    server = Listener(gateway)
    # The listener really is reachable from this machine: the tests below can
    # only pass because something refuses the nodes' connections.
    with socket.create_connection((server.host, server.port), timeout=2):
        pass
    deadline = time.monotonic() + 2
    while server.accepted < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.accepted == 1
    server.accepted = 0
    yield server
    server.close()


@pytest.fixture(scope="module")
def probe_pods(cluster: Cluster) -> Iterator[dict[str, str]]:
    """A probe pod on every node: node name -> pod name."""
    with ExitStack() as stack:
        yield {
            node: stack.enter_context(
                cluster.idle_pod(f"{PROBE_POD}-{index}", PROBE_IMAGE, "hermetic-probe", node)
            )
            for index, node in enumerate(cluster.nodes)
        }


def connect_script(host: str, port: int) -> str:
    """Bash that tries a TCP connection for up to 8 s and prints its exit status."""
    return f"timeout 8 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null; echo $?"


def outcome(output: str) -> str:
    """connected, timed out (a dropped packet), or refused (a rejected one)."""
    status = int(output.split()[-1])
    return {0: "connected", 124: "timed out"}.get(status, "refused")


def refusals(cluster: Cluster, node: str, rule: str) -> int:
    """Packets refused so far by the node firewall's rule with this comment."""
    ruleset = cluster.node_exec(
        "nft", "list", "table", "inet", "visit_counter_hermetic", node=node
    ).stdout
    for line in ruleset.splitlines():
        if f'comment "{rule}"' in line:
            return int(line.split("counter packets")[1].split()[0])
    raise AssertionError(f"no rule {rule!r} in the firewall of {node}:\n{ruleset}")


def in_pod(cluster: Cluster, pod: str, script: str) -> Callable[[], str]:
    return partial(cluster.kubectl, "exec", pod, "--", "bash", "-c", script)


def on_node(cluster: Cluster, node: str, script: str) -> Callable[[], str]:
    return lambda: cluster.node_exec("bash", "-c", script, node=node).stdout


def refused_by(cluster: Cluster, node: str, rule: str, attempt: Callable[[], str]) -> None:
    """The attempt's connection is refused at once rather than left to time
    out, and by the firewall rule of ``node`` with this comment."""
    before = refusals(cluster, node, rule)
    assert outcome(attempt()) == "refused", node
    assert refusals(cluster, node, rule) > before, node


def test_a_pod_cannot_open_a_connection_off_the_cluster(
    cluster: Cluster, listener: Listener, probe_pods: dict[str, str]
) -> None:
    script = connect_script(listener.host, listener.port)
    for node, pod in probe_pods.items():
        refused_by(cluster, node, "leaves the node (pod)", in_pod(cluster, pod, script))
    assert listener.accepted == 0


def test_a_node_process_cannot_open_a_connection_off_the_cluster(
    cluster: Cluster, listener: Listener
) -> None:
    script = connect_script(listener.host, listener.port)
    for node in cluster.nodes:
        refused_by(cluster, node, "leaves the node (node process)", on_node(cluster, node, script))
    assert listener.accepted == 0


def test_a_pod_address_on_no_node_is_refused_not_sent_to_the_host(
    cluster: Cluster, probe_pods: dict[str, str]
) -> None:
    # A pod range no node holds, as a lost node's range is once its route is
    # withdrawn: the packet would take the default route to the host, and
    # from there leave the machine.
    script = connect_script("10.244.250.7", 8000)
    for node, pod in probe_pods.items():
        refused_by(cluster, node, "leaves the node (pod)", in_pod(cluster, pod, script))
        refused_by(cluster, node, "leaves the node (node process)", on_node(cluster, node, script))


def test_a_service_address_without_a_service_is_refused_at_once(
    cluster: Cluster, probe_pods: dict[str, str]
) -> None:
    # Nothing in the cluster owns this ClusterIP, so kube-proxy translates
    # nothing and the packet would otherwise head for the host's default route.
    script = connect_script("10.96.255.254", 80)
    for node, pod in probe_pods.items():
        refused_by(cluster, node, "service address not translated", in_pod(cluster, pod, script))


def test_names_outside_the_cluster_do_not_resolve_but_cluster_names_do(
    cluster: Cluster, probe_pods: dict[str, str]
) -> None:
    # From every node, so from at least one whose DNS server runs elsewhere.
    for pod in probe_pods.values():
        inside = cluster.kubectl(
            "exec", pod, "--", "getent", "hosts", "kubernetes.default.svc.cluster.local"
        )
        assert inside.split()[0] == "10.96.0.1"
        outside = cluster.kubectl("exec", pod, "--", "getent", "hosts", "example.com", check=False)
        assert outside.strip() == ""


def test_no_node_can_ask_dockers_dns_server(cluster: Cluster) -> None:
    # Docker's DNS server, in every container on a network of its own making,
    # would forward any other name to the host's resolvers. It answers a
    # node's container name itself, so this asks it without any lookup off
    # the machine: refused, so no answer.
    other = {node: (list(cluster.nodes) * 2)[index + 1] for index, node in enumerate(cluster.nodes)}
    for node in cluster.nodes:
        before = refusals(cluster, node, "Docker's DNS server")
        answer = cluster.node_exec("getent", "hosts", other[node], node=node, check=False)
        assert answer.stdout.strip() == "", node
        assert refusals(cluster, node, "Docker's DNS server") > before, node
