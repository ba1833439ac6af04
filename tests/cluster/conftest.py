"""The cluster tier: a real Kubernetes of three nodes, k8s/ deployed on it.

The tier starts the local cluster itself (``bash cluster/up.sh``, three nodes
by default, built from source on first use) and removes it at the end; a cluster a developer
already has up (``.cluster/kubeconfig`` answers) is reused and left running.
The fixtures are package-scoped, so the cluster is gone before the other
tiers run on the same two cores.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.utils.cluster import STATE, Cluster, Deployed, cluster_answers, deploy, read_nodes
from tests.utils.run import run
from tests.utils.tools import missing, require_tool


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    require_tool("docker", "Debian: apt-get install docker.io (sudo bash ci/install-docker.sh)")
    if run("docker", "info", check=False, timeout=30).returncode != 0:
        missing("no Docker Engine answers (`docker info` failed)")

    started_here = not cluster_answers()
    timings: dict[str, float] = {}
    if started_here:
        began = time.monotonic()
        up = run("bash", "cluster/up.sh", check=False, timeout=3600)
        timings["cluster-up"] = time.monotonic() - began
        if up.returncode != 0:
            run("bash", "cluster/down.sh", check=False)
            raise AssertionError(f"cluster/up.sh failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
    cluster = Cluster(str(STATE / "bin" / "kubectl"), read_nodes(), started_here, timings)
    yield cluster
    if started_here and STATE.exists():
        run("bash", "cluster/down.sh", check=False)


@pytest.fixture(scope="package")
def deployed(cluster: Cluster) -> Deployed:
    """k8s/ deployed by the same code ``invoke k8s-deploy`` runs."""
    began = time.monotonic()
    survey = deploy(cluster)
    return Deployed(survey, time.monotonic() - began)
