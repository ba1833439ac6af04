"""The cluster tier's helpers: the running local cluster, and deploying and
drilling on it with the same code the tasks run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from deploy import k8s_deploy
from deploy.api_client import Survey
from deploy.commands import Kubectl, Runner
from deploy.drill import DrillTarget
from deploy.k8s_secret import read_secret_env
from deploy.poller import Sample
from localservers.project import REPO_ROOT
from tests.utils.run import Completed, run

STATE = REPO_ROOT / ".cluster"
KUBECONFIG = STATE / "kubeconfig"
URL = "http://127.0.0.1:30001/"
API_SELECTOR = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
NAMESPACE = "default"


# How long after a node is killed a request that was inside it may end.
IN_FLIGHT_FOR = 5.0


@dataclass
class Cluster:
    """The running cluster, and whether this tier started it. ``nodes`` maps
    each node's name to its container id, the control plane first."""

    kubectl_path: str
    nodes: dict[str, str]
    started_here: bool
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def control_plane(self) -> str:
        return next(iter(self.nodes))

    @property
    def workers(self) -> list[str]:
        return list(self.nodes)[1:]

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return run(
            self.kubectl_path, "--kubeconfig", str(KUBECONFIG), *args, check=check, timeout=timeout
        ).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "--output", "json"))

    def node_exec(self, *args: str, node: str = "", check: bool = True) -> Completed:
        """Runs a command in a node's container (the control plane's unless named)."""
        container = self.nodes[node or self.control_plane]
        return run("docker", "exec", container, *args, check=check, timeout=60)

    def node_of(self, pod: str, namespace: str = NAMESPACE) -> str:
        return str(self.json("get", "pod", pod, "-n", namespace)["spec"]["nodeName"])

    @contextmanager
    def idle_pod(self, name: str, image: str, label: str, node: str = "") -> Iterator[str]:
        """A pod that only sleeps, labelled ``app.kubernetes.io/name=LABEL``,
        for ``kubectl exec``, on ``node`` if named; deleted afterwards."""
        placement = ["--overrides", json.dumps({"spec": {"nodeName": node}})] if node else []
        self.kubectl(
            "run", name, "--image", image, "--image-pull-policy", "Never", "--restart", "Never",
            "--labels", f"app.kubernetes.io/name={label}", *placement,
            "--command", "--", "sleep", "600",
        )  # fmt: skip
        try:
            self.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=120s")
            yield name
        finally:
            self.kubectl("delete", "pod", name, "--now", "--ignore-not-found", check=False)

    def api_pods(self) -> list[Any]:
        """The API's pods, as Kubernetes objects; not those being deleted."""
        items = self.json("get", "pods", "-n", NAMESPACE, "-l", API_SELECTOR)["items"]
        return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]


def read_nodes() -> dict[str, str]:
    """``.cluster/nodes``, as cluster/up.sh wrote it: NAME ID per line."""
    lines = (STATE / "nodes").read_text(encoding="utf-8").splitlines()
    return dict(line.split() for line in lines if line.strip())


def cluster_answers() -> bool:
    if not KUBECONFIG.exists() or not (STATE / "bin" / "kubectl").exists():
        return False
    probe = run(
        str(STATE / "bin" / "kubectl"),
        "--kubeconfig",
        str(KUBECONFIG),
        "get",
        "--raw",
        "/readyz",
        check=False,
        timeout=20,
    )
    return probe.returncode == 0


def restarts(pod: dict[str, Any]) -> int:
    """How many times the pod's containers were restarted, together."""
    containers = pod["status"].get("containerStatuses") or []
    return sum(int(container["restartCount"]) for container in containers)


def api_restarts(cluster: Cluster) -> dict[str, int]:
    """Each API pod's container restart count."""
    return {pod["metadata"]["name"]: restarts(pod) for pod in cluster.api_pods()}


def secret_values() -> dict[str, str]:
    """k8s/secret.env, read as k8s-deploy and kustomize read it."""
    return read_secret_env(REPO_ROOT / "k8s" / "secret.env")


@dataclass
class Deployed:
    """What ``invoke k8s-deploy`` left running, and how long it took."""

    survey: Survey
    seconds: float


def deploy(
    cluster: Cluster, namespace: str = NAMESPACE, build: bool = True, database: str = "single"
) -> Survey:
    """Run what ``invoke k8s-deploy --kubeconfig .cluster/kubeconfig`` runs."""
    args = ["--kubectl", cluster.kubectl_path, "--kubeconfig", str(KUBECONFIG)]
    args += ["--namespace", namespace, "--loader", "local", "--url", URL, "--database", database]
    args += [] if build else ["--no-build"]
    survey = k8s_deploy.deploy(k8s_deploy.Deploy.from_command_line(args, Runner(), REPO_ROOT))
    assert survey is not None
    return survey


def drill_target(cluster: Cluster) -> DrillTarget:
    return DrillTarget(
        runner=Runner(),
        kubectl=Kubectl.from_command_line(cluster.kubectl_path, str(KUBECONFIG)),
        namespace=NAMESPACE,
        url=URL,
    )


def failed(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.status != 200]


def failed_but_one_in_flight(samples: list[Sample], killed_at: float) -> list[Sample]:
    """The failed requests, less the one that may have died inside an API pod
    on a node killed at ``killed_at`` (the samples' clock): the poller has one
    request in flight at a time, and HAProxy answers 502 when the pod serving
    it vanishes with its node. It cannot be sent again safely: the pod may
    have counted it."""
    failures = failed(samples)
    died = [s for s in failures if s.status == 502 and 0 <= s.at - killed_at <= IN_FLIGHT_FOR]
    return [s for s in failures if s is not died[0]] if died else failures


def database_log(cluster: Cluster, since: str = "10m") -> str:
    """What the API's pods logged about the database lately (each line
    prefixed with its pod): the story behind a drill's failed request."""
    logs = cluster.kubectl(
        "logs", "-n", NAMESPACE, "-l", API_SELECTOR, "--since", since, "--prefix",
        "--max-log-requests", "10", "--tail", "-1", check=False,
    )  # fmt: skip
    return "\n".join(line for line in logs.splitlines() if "database" in line or "batch" in line)
