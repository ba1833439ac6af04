"""Nothing started inside the cluster opens a connection off the node.

The proof needs no traffic off the machine: a listener on the host's side of
the node's Docker network (the bridge gateway, on this machine) stands for
"anywhere off the node". Without the node's firewall a pod or a node process
reaches it; with it, the connection is refused at once and the listener never
sees it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

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
            "docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", cluster.node_id
        ).stdout
    )
    gateway = next(iter(networks.values()))["Gateway"]
    server = Listener(gateway)
    # The listener really is reachable from this machine: the test below can
    # only pass because something refuses the node's connections.
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
def probe_pod(cluster: Cluster) -> Iterator[str]:
    with cluster.idle_pod(PROBE_POD, PROBE_IMAGE, "hermetic-probe") as pod:
        yield pod


def connect_script(host: str, port: int) -> str:
    """Bash that tries a TCP connection for up to 8 s and prints its exit status."""
    return f"timeout 8 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null; echo $?"


def outcome(output: str) -> str:
    """connected, timed out (a dropped packet), or refused (a rejected one)."""
    status = int(output.split()[-1])
    return {0: "connected", 124: "timed out"}.get(status, "refused")


def refusals(cluster: Cluster, rule: str) -> int:
    """Packets refused so far by the node firewall's rule with this comment."""
    ruleset = cluster.node_exec("nft", "list", "table", "inet", "visit_counter_hermetic").stdout
    for line in ruleset.splitlines():
        if f'comment "{rule}"' in line:
            return int(line.split("counter packets")[1].split()[0])
    raise AssertionError(f"no rule {rule!r} in the node's firewall:\n{ruleset}")


def refused_by(cluster: Cluster, rule: str, attempt: Callable[[], str]) -> None:
    """The attempt's connection is refused at once rather than left to time
    out, and by the node firewall's rule with this comment."""
    before = refusals(cluster, rule)
    assert outcome(attempt()) == "refused"
    assert refusals(cluster, rule) > before


def test_a_pod_cannot_open_a_connection_off_the_node(
    cluster: Cluster, listener: Listener, probe_pod: str
) -> None:
    script = connect_script(listener.host, listener.port)
    refused_by(
        cluster,
        "leaves the node (pod)",
        lambda: cluster.kubectl("exec", probe_pod, "--", "bash", "-c", script),
    )
    assert listener.accepted == 0


def test_a_node_process_cannot_open_a_connection_off_the_node(
    cluster: Cluster, listener: Listener
) -> None:
    script = connect_script(listener.host, listener.port)
    refused_by(
        cluster,
        "leaves the node (node process)",
        lambda: cluster.node_exec("bash", "-c", script).stdout,
    )
    assert listener.accepted == 0


def test_a_service_address_without_a_service_is_refused_at_once(
    cluster: Cluster, probe_pod: str
) -> None:
    # Nothing in the cluster owns this ClusterIP, so kube-proxy translates
    # nothing and the packet would otherwise head for the host's default route.
    script = connect_script("10.96.255.254", 80)
    refused_by(
        cluster,
        "service address not translated",
        lambda: cluster.kubectl("exec", probe_pod, "--", "bash", "-c", script),
    )


def test_names_outside_the_cluster_do_not_resolve_but_cluster_names_do(
    cluster: Cluster, probe_pod: str
) -> None:
    inside = cluster.kubectl(
        "exec", probe_pod, "--", "getent", "hosts", "kubernetes.default.svc.cluster.local"
    )
    assert inside.split()[0] == "10.96.0.1"
    outside = cluster.kubectl(
        "exec", probe_pod, "--", "getent", "hosts", "example.com", check=False
    )
    assert outside.strip() == ""
