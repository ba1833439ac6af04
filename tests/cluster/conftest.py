"""The cluster tier: a real single-node Kubernetes, k8s/ deployed on it.

The tier starts the local cluster itself (``bash cluster/up.sh``, which builds
it from source on first use) and removes it at the end; a cluster a developer
already has up (``.cluster/kubeconfig`` answers) is reused and left running.
The fixtures are package-scoped, so the cluster is gone before the other
tiers run on the same two cores.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from deploy import k8s_deploy
from deploy.db_credentials import read_secret_env
from deploy.drill import DrillTarget
from deploy.k8s_deploy import DeployOptions
from deploy.service import Survey
from deploy.shell import Kubectl, Shell
from tests.tooling import REPO_ROOT, missing, require_tool

STATE = REPO_ROOT / ".cluster"
KUBECONFIG = STATE / "kubeconfig"
URL = "http://127.0.0.1:30001/"
API_SELECTOR = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
NAMESPACE = "default"


def run(
    *args: str, check: bool = True, timeout: float = 600, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass
class Cluster:
    """The running cluster, and whether this tier started it."""

    kubectl_path: str
    node_id: str
    started_here: bool
    timings: dict[str, float] = field(default_factory=dict)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300, **kw: object) -> str:
        return run(
            self.kubectl_path,
            "--kubeconfig",
            str(KUBECONFIG),
            *args,
            check=check,
            timeout=timeout,
            **kw,
        ).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "--output", "json"))

    def node_exec(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("docker", "exec", self.node_id, *args, check=check, timeout=60)

    @contextmanager
    def idle_pod(self, name: str, image: str, label: str) -> Iterator[str]:
        """A pod that only sleeps, labelled ``app.kubernetes.io/name=LABEL``,
        for ``kubectl exec``; deleted afterwards."""
        self.kubectl(
            "run", name, "--image", image, "--image-pull-policy", "Never", "--restart", "Never",
            "--labels", f"app.kubernetes.io/name={label}", "--command", "--", "sleep", "600",
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


def _answers() -> bool:
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


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    require_tool("docker", "Debian: apt-get install docker.io (sudo bash ci/install-docker.sh)")
    if run("docker", "info", check=False, timeout=30).returncode != 0:
        missing("no Docker Engine answers (`docker info` failed)")

    started_here = not _answers()
    timings: dict[str, float] = {}
    if started_here:
        began = time.monotonic()
        up = run("bash", "cluster/up.sh", check=False, timeout=3600)
        timings["cluster-up"] = time.monotonic() - began
        if up.returncode != 0:
            run("bash", "cluster/down.sh", check=False)
            raise AssertionError(f"cluster/up.sh failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
    node_id = (STATE / "node-id").read_text().strip()
    cluster = Cluster(str(STATE / "bin" / "kubectl"), node_id, started_here, timings)
    yield cluster
    if started_here and STATE.exists():
        run("bash", "cluster/down.sh", check=False)


def api_restarts(cluster: Cluster) -> dict[str, int]:
    """Each API pod's container restart count."""
    restarts = {}
    for pod in cluster.api_pods():
        containers = pod["status"].get("containerStatuses") or []
        restarts[pod["metadata"]["name"]] = sum(int(c["restartCount"]) for c in containers)
    return restarts


def secret_values() -> dict[str, str]:
    """k8s/secret.env, read as k8s-deploy and kustomize read it."""
    return read_secret_env(REPO_ROOT / "k8s" / "secret.env")


@dataclass
class Deployed:
    """What ``invoke k8s-deploy`` left running, and how long it took."""

    survey: Survey
    seconds: float


def deploy(cluster: Cluster, namespace: str = NAMESPACE, build: bool = True) -> Survey:
    """Run what ``invoke k8s-deploy --kubeconfig .cluster/kubeconfig`` runs."""
    options = DeployOptions(
        repo=REPO_ROOT,
        kubectl=Kubectl.from_command_line(cluster.kubectl_path, str(KUBECONFIG)),
        namespace=namespace,
        loader="local",
        url=URL,
        build=build,
    )
    survey = k8s_deploy.deploy(options, Shell())
    assert survey is not None
    return survey


@pytest.fixture(scope="package")
def deployed(cluster: Cluster) -> Deployed:
    """k8s/ deployed by the same code ``invoke k8s-deploy`` runs."""
    began = time.monotonic()
    survey = deploy(cluster)
    return Deployed(survey, time.monotonic() - began)


def drill_target(cluster: Cluster) -> DrillTarget:
    return DrillTarget(
        shell=Shell(),
        kubectl=Kubectl.from_command_line(cluster.kubectl_path, str(KUBECONFIG)),
        namespace=NAMESPACE,
        url=URL,
    )
