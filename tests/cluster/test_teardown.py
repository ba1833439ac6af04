"""``invoke cluster-down`` leaves nothing behind, and neither does a failed
``cluster-up`` unless asked to keep it. (This module runs last.)"""

from __future__ import annotations

import json

import pytest

from tests.utils.cluster import STATE, Cluster, read_nodes
from tests.utils.run import Completed, run


def test_cluster_down_leaves_nothing_behind(cluster: Cluster) -> None:
    if not cluster.started_here:
        pytest.skip("the tier reused a cluster it did not start, and leaves it running")
    volumes = []
    for container in cluster.nodes.values():
        mounts = json.loads(
            run("docker", "inspect", "--format", "{{json .Mounts}}", container).stdout
        )
        mine = [m["Name"] for m in mounts if m["Type"] == "volume"]
        assert mine, "each node keeps /var on a volume of its own"
        volumes += mine
    network = (STATE / "network-id").read_text().strip()

    # cluster/down.sh itself fails when a host kernel setting differs from
    # before cluster-up, or when the node's cgroups outlive it.
    down = run("bash", "cluster/down.sh", check=False, timeout=120)
    assert down.returncode == 0, down.stderr

    for container in cluster.nodes.values():
        assert run("docker", "inspect", container, check=False).returncode != 0
    assert labelled_nodes() == ""
    for volume in volumes:
        assert run("docker", "volume", "inspect", volume, check=False).returncode != 0
    assert run("docker", "network", "inspect", network, check=False).returncode != 0
    assert not STATE.exists()
    listening = run("ss", "-Hltn", "( sport = :30001 or sport = :16443 )").stdout
    assert listening.strip() == ""


def labelled_nodes() -> str:
    return run(
        "docker", "ps", "--all", "--quiet", "--filter", "label=dev.visit-counter.cluster"
    ).stdout.strip()


def labelled_networks() -> str:
    return run(
        "docker", "network", "ls", "--quiet", "--filter", "label=dev.visit-counter.cluster"
    ).stdout.strip()


def start_that_fails(*args: str) -> Completed:
    # After cluster-down above, no cluster is up: up.sh starts the control
    # plane, which cannot be ready within one second.
    started = run(
        "bash", "cluster/up.sh", "--nodes", "2", *args,
        env={"VC_CLUSTER_READY_TIMEOUT": "1"}, check=False, timeout=900,
    )  # fmt: skip
    assert started.returncode != 0
    assert "the cluster did not come up within 1s" in started.stderr
    return started


def test_a_failed_cluster_up_removes_what_it_made(cluster: Cluster) -> None:
    if not cluster.started_here:
        pytest.skip("the tier reused a cluster it did not start, and leaves it running")
    started = start_that_fails()
    assert "removing what was made" in started.stderr
    assert labelled_nodes() == ""
    assert labelled_networks() == ""
    assert not STATE.exists()


def test_a_failed_cluster_up_with_retain_keeps_the_node_for_a_look(cluster: Cluster) -> None:
    if not cluster.started_here:
        pytest.skip("the tier reused a cluster it did not start, and leaves it running")
    started = start_that_fails("--retain")
    assert "kept what was made (--retain)" in started.stderr
    [control_plane] = read_nodes().values()  # the workers were not made yet
    assert labelled_nodes() == control_plane[:12]
    assert (
        run("docker", "exec", control_plane, "test", "-d", "/var/log/visit-counter").returncode == 0
    )
    down = run("bash", "cluster/down.sh", check=False, timeout=120)
    assert down.returncode == 0, down.stderr
    assert labelled_nodes() == ""
    assert labelled_networks() == ""
    assert not STATE.exists()
