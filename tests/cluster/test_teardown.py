"""``invoke cluster-down`` leaves nothing behind. (This module runs last.)"""

from __future__ import annotations

import json

import pytest

from tests.utils.cluster import STATE, Cluster
from tests.utils.run import run


def test_cluster_down_leaves_nothing_behind(cluster: Cluster) -> None:
    if not cluster.started_here:
        pytest.skip("the tier reused a cluster it did not start, and leaves it running")
    mounts = json.loads(
        run("docker", "inspect", "--format", "{{json .Mounts}}", cluster.node_id).stdout
    )
    volumes = [m["Name"] for m in mounts if m["Type"] == "volume"]
    assert volumes, "the node keeps /var on a volume of its own"

    # cluster/down.sh itself fails when a host kernel setting differs from
    # before cluster-up, or when the node's cgroups outlive it.
    down = run("bash", "cluster/down.sh", check=False, timeout=120)
    assert down.returncode == 0, down.stderr

    assert run("docker", "inspect", cluster.node_id, check=False).returncode != 0
    labelled = run(
        "docker", "ps", "--all", "--quiet", "--filter", "label=dev.visit-counter.cluster"
    )
    assert labelled.stdout.strip() == ""
    for volume in volumes:
        assert run("docker", "volume", "inspect", volume, check=False).returncode != 0
    assert not STATE.exists()
    listening = run("ss", "-Hltn", "( sport = :30001 or sport = :16443 )").stdout
    assert listening.strip() == ""
