"""The disruption budgets (k8s/resources/disruption-budgets.yaml) on the
running cluster: an eviction, what `kubectl drain` sends for each pod, is
allowed while it leaves two API pods ready and refused when it would leave
one, and the evicted pod is replaced with no failed request."""

from __future__ import annotations

import json

from deploy.poller import Poller
from tests.utils.cluster import KUBECONFIG, NAMESPACE, URL, Cluster, Deployed
from tests.utils.run import run

REFUSED = "Cannot evict pod as it would violate the pod's disruption budget"


def evict(cluster: Cluster, pod: str) -> tuple[bool, str]:
    """Ask for ``pod``'s eviction through the Eviction API, as a drain does:
    (allowed, what the API server said)."""
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": NAMESPACE},
    }
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/eviction"
    answer = run(
        cluster.kubectl_path, "--kubeconfig", KUBECONFIG, "create", "--raw", path, "-f", "-",
        input=json.dumps(eviction), check=False, timeout=60,
    )  # fmt: skip
    return answer.returncode == 0, answer.stdout + answer.stderr


def test_an_eviction_past_the_api_budget_is_refused_and_none_fails(
    cluster: Cluster, deployed: Deployed
) -> None:
    first, second, _ = sorted(pod["metadata"]["name"] for pod in cluster.api_pods())
    with Poller(URL) as poller:
        allowed, said = evict(cluster, first)
        assert allowed, said
        # Two of three are ready now, the budget's minimum: no more may go
        # until the replacement is ready.
        allowed, said = evict(cluster, second)
        assert not allowed
        assert REFUSED in said, said
        cluster.kubectl("rollout", "status", "deployment/api", "-n", NAMESPACE, "--timeout=300s")
    failed = [s for s in poller.samples if s.status != 200]
    assert poller.samples
    assert not failed, failed[:5]
    names = {pod["metadata"]["name"] for pod in cluster.api_pods()}
    assert len(names) == 3
    assert first not in names
    assert second in names
