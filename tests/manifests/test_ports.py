"""One port story everywhere: the API listens on 8000 in its container and
the balancer on 8000 in its own; Compose publishes the balancer's as 8000,
Kubernetes exposes it as NodePort 30001, the VM forwards the host's 8000 to
that NodePort, and the README's URLs say 8000."""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from deploy import vagrant
from deploy.commands import KUBECTL
from localservers.project import REPO_ROOT
from tests.utils.run import run
from tests.utils.tools import require_tool

CONTAINER_PORT = 8000
HOST_PORT = 8000
NODE_PORT = 30001
MONITOR_PORT = 8404


def test_dockerfile_exposes_the_container_port() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert re.findall(r"^EXPOSE\s+(\S+)", text, re.MULTILINE) == [str(CONTAINER_PORT)]


def test_gunicorn_binds_the_container_port() -> None:
    tree = ast.parse((REPO_ROOT / "gunicorn.conf.py").read_text())
    binds = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "bind" for t in node.targets)
    ]
    assert binds == [[f"0.0.0.0:{CONTAINER_PORT}"]]


def test_compose_publishes_host_port_to_the_balancer() -> None:
    compose = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
    balancer, api = compose["services"]["balancer"], compose["services"]["api"]
    assert balancer["ports"] == [f"{HOST_PORT}:{CONTAINER_PORT}"]
    assert "ports" not in api
    assert api["expose"] == [str(CONTAINER_PORT)]
    # What kompose turns into the Services and the readiness probe.
    assert balancer["labels"]["kompose.service.nodeport.port"] == str(NODE_PORT)
    readiness_port = api["labels"]["kompose.service.healthcheck.readiness.http_get_port"]
    assert readiness_port == str(CONTAINER_PORT)
    config = (REPO_ROOT / "haproxy" / "haproxy.cfg").read_text()
    assert re.search(rf"^\s*bind :{CONTAINER_PORT}$", config, re.MULTILINE)
    assert f':{CONTAINER_PORT}"' in config  # the replicas' port in server-template


def test_the_vm_forwards_host_port_to_the_node_port() -> None:
    text = (REPO_ROOT / "Vagrantfile").read_text()
    forwards = re.findall(
        r'config\.vm\.network\s+"forwarded_port",(.*?)(?:\n\s*\n|\n\s*#|\n\s*config\.)',
        text,
        re.DOTALL,
    )
    by_id = {}
    for forward in forwards:
        options = dict(re.findall(r"(\w+):\s*(\"[^\"]*\"|\w+)", forward))
        by_id[options["id"].strip('"')] = options
    assert set(by_id) == {"api", "kube-api"}, forwards
    assert by_id["api"]["guest"] == str(NODE_PORT)
    assert by_id["api"]["host"] == str(HOST_PORT)
    # The API server, for the host's .vagrant/kubeconfig (deploy/vagrant.py).
    assert by_id["kube-api"]["guest"] == "6443"
    assert by_id["kube-api"]["host"] == str(vagrant.API_PORT)
    assert all(options["host_ip"] == '"127.0.0.1"' for options in by_id.values())
    script = (REPO_ROOT / "vagrant" / "provision.sh").read_text()
    assert f'HOST_URL="http://localhost:{HOST_PORT}/"' in script


def test_the_readme_urls_use_the_host_port() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    urls = re.findall(r"https?://(?:localhost|127\.0\.0\.1)(?::\d+)?[^\s)`'\"]*", text)
    assert urls, "the README gives no local URL"
    wrong = [url for url in urls if not re.match(rf"https?://[^/:]+:{HOST_PORT}(/|$)", url)]
    assert not wrong, f"README URLs not on port {HOST_PORT}: {wrong}"


def kubectl() -> str:
    return require_tool("kubectl", KUBECTL)


def rendered_manifests(tmp_path: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize k8s/``: exactly what ``kubectl apply -k k8s/`` applies.

    The gitignored k8s/secret.env may be absent on a fresh clone; a copy of
    k8s/ with a placeholder one renders the same objects (only the Secret's
    values differ)."""
    source = REPO_ROOT / "k8s"
    assert (source / "kustomization.yaml").is_file(), (
        "k8s/kustomization.yaml not found: it is committed (`invoke k8s-gen` writes k8s/base/)"
    )
    copy = tmp_path / "k8s"
    shutil.copytree(source, copy)
    secret_env = copy / "secret.env"
    if not secret_env.exists():
        secret_env.write_text("DB_PASSWORD=placeholder\nDB_ROOT_PASSWORD=placeholder\n")
    result = run(kubectl(), "kustomize", copy, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def containers(objects: list[dict[str, Any]], component: str) -> Iterator[dict[str, Any]]:
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels", {})
        if labels.get("app.kubernetes.io/component") != component:
            continue
        template = obj.get("spec", {}).get("template", {})
        yield from template.get("spec", {}).get("containers", [])


def test_the_kubernetes_service_maps_the_node_port_to_the_container_port(
    tmp_path: Path,
) -> None:
    objects = rendered_manifests(tmp_path)
    node_ports = [
        port
        for obj in objects
        if obj.get("kind") == "Service"
        for port in obj.get("spec", {}).get("ports", [])
        if "nodePort" in port
    ]
    assert len(node_ports) == 1, node_ports
    port = node_ports[0]
    assert port["nodePort"] == NODE_PORT

    balancers = list(containers(objects, "balancer"))
    assert balancers, "no workload labelled app.kubernetes.io/component=balancer"
    container_ports = {
        p.get("name"): p["containerPort"] for c in balancers for p in c.get("ports", [])
    }
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, str):  # a named port: resolve it in the pod template
        target = container_ports[target]
    assert target == CONTAINER_PORT
    # 8404 is the balancer's monitor port (metrics, health): in no Service.
    assert set(container_ports.values()) == {CONTAINER_PORT, MONITOR_PORT}
    service_ports = {
        p["port"] for o in objects if o.get("kind") == "Service" for p in o["spec"]["ports"]
    }
    assert MONITOR_PORT not in service_ports
