"""``invoke k8s-deploy``: deploy the project to whatever cluster kubectl points at.

One path for every cluster: the local one, kind, k3d, minikube, the Vagrant
VM's k3s (``vagrant/provision.sh`` runs this module inside the VM) or any
cluster that pulls from a registry. A deploy is :data:`ACTIONS` in order:
first the read-only checks that would refuse it (a password the running
database refuses, another copy holding the node port), so a refusal changes
nothing; then build, load, apply, roll the API when its image changed, and
wait for the rollouts and for three replicas to answer. In a dry run no
command answers: the checks find nothing, and an argument a real run takes
from an answer is shown as ``<what it is>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from api.greeting import count_lines
from deploy import image_loader, k8s_secret, options
from deploy.api_client import REPLICAS, Survey, wait_for_replicas
from deploy.commands import KUBECTL, DeployError, Kubectl, Runner, exit_status, find_tool
from deploy.options import Option

API_IMAGE = "visit-counter-api:dev"
# On the API's pod template: the image ID it should run. The tag stays
# visit-counter-api:dev, so without it a new image would not change the
# template and the pods would keep the old one; the same ID changes nothing.
IMAGE_ANNOTATION = "visit-counter.dev/image-id"
APP_SELECTOR = "app.kubernetes.io/name=visit-counter"
API_SELECTOR = f"{APP_SELECTOR},app.kubernetes.io/component=api"
DESCRIPTION = "Deploy k8s/ to the cluster kubectl points at (KUBECONFIG or --kubeconfig)."
OPTIONS = (
    options.KUBECONFIG,
    Option("namespace", "", "namespace, created if missing (default: the context's)"),
    options.KUBECTL,
    Option(
        "loader",
        "auto",
        "how images reach the cluster: auto (from the context's name), local, kind, k3d, "
        "minikube, k3s, none (it pulls from your registry)",
        choices=("auto", *image_loader.LOADERS),
    ),
    Option("cluster_name", "", "kind/k3d cluster or minikube profile (default: from the context)"),
    Option(
        "database",
        "single",
        "single (one MariaDB) or galera (three Galera nodes, k8s/components/galera; "
        "docs/galera.md). The other one's workload is removed; volumes are kept",
        choices=("single", "galera"),
    ),
    options.URL,
    Option("build", True, f"build {API_IMAGE} first (--no-build: use the one already built)"),
    Option("timeout", 300, "seconds for each rollout (kubectl rollout status)"),
    Option("replicas_timeout", 180, "seconds for three replicas to answer"),
    options.DRY_RUN,
)
# Each database: its workload, and the component label of its objects.
DATABASES = {"single": ("deployment/db", "db"), "galera": ("statefulset/galera", "galera")}
# The kinds of a database's objects that go when the other one is chosen:
# never a claim (going back finds its data again), nor the Secret.
DATABASE_KINDS = "deployment,statefulset,service,networkpolicy,poddisruptionbudget,configmap"
_NODE_PORT_RE = re.compile(r"^\s*nodePort:\s*['\"]?(\d+)", re.MULTILINE)


@dataclass
class Deploy:
    """One deploy, shared by every action: its options, the runner, and what
    the earlier actions found."""

    runner: Runner
    kubectl: Kubectl
    namespace: str  # empty: the context's, until preflight
    loader: str
    cluster_name: str
    database: str
    url: str
    build: bool
    timeout: int
    replicas_timeout: int
    repo: Path = Path(".")
    images: image_loader.Loader = field(default_factory=lambda: image_loader.Loader("none"))
    image_ids: dict[str, str] = field(default_factory=dict)
    survey: Survey | None = None

    @classmethod
    def from_command_line(
        cls, argv: Sequence[str] | None, runner: Runner | None = None, repo: Path = Path(".")
    ) -> Deploy:
        """The deploy a command line asks for; by default its runner runs the
        commands, or only prints them with --dry-run."""
        parser = options.parser("python3 -m deploy.k8s_deploy", DESCRIPTION, OPTIONS)
        args = vars(parser.parse_args(argv))
        kubectl = Kubectl.from_command_line(args.pop("kubectl"), args.pop("kubeconfig"))
        dry_run = args.pop("dry_run")
        return cls(runner or Runner.for_run(dry_run), kubectl, repo=repo, **args)

    def path(self, relative: str) -> str:
        return k8s_secret.shown(self.repo, relative)


def node_ports(k8s_dir: Path) -> set[int]:
    texts = (path.read_text(encoding="utf-8") for path in sorted(k8s_dir.glob("*.yaml")))
    return {int(port) for text in texts for port in _NODE_PORT_RE.findall(text)}


def preflight(run: Deploy) -> None:
    """kubectl, the namespace, the image loader, and every program that builds
    and loads the images (a dry run runs nothing, so needs nothing)."""
    runner, dry_run = run.runner, run.runner.dry_run
    if not dry_run:
        find_tool(run.kubectl.executable, f"{KUBECTL}, or pass --kubectl")
    view = run.kubectl("config", "view", "--minify", "--output", "jsonpath={..namespace}")
    run.namespace = run.namespace or runner.output(view).strip() or "default"
    context, chosen = "", run.loader
    if chosen == "auto":
        context = runner.output(run.kubectl("config", "current-context")).strip()
        if dry_run:
            runner.note(
                "(dry run: auto picks the loader by this context's name; --loader X previews X)"
            )
            chosen = "none"
    run.images = image_loader.choose_loader(chosen, context, run.cluster_name)
    if run.images.kind == "local":
        nodes_file = run.repo / ".cluster" / "nodes"
        missing = dry_run and not nodes_file.exists()
        node_ids = ("<node-id>",) if missing else image_loader.read_node_ids(nodes_file)
        run.images = image_loader.Loader("local", node_ids=node_ids)
    needed = run.images.tools()
    if run.build:
        needed["docker"] = image_loader.INSTALL_HINTS["docker"]
    if not dry_run:
        for name, hint in needed.items():
            find_tool(name, hint)


def check_credentials(run: Deploy) -> None:
    secret_env = k8s_secret.ensure_secret_env(run.runner, run.repo)
    workload = DATABASES[run.database][0]
    k8s_secret.check(run.runner, run.kubectl, run.namespace, secret_env, workload)


def check_node_ports(run: Deploy) -> None:
    """A Service's node port is cluster-wide: one held in another namespace
    would make the apply fail halfway."""
    ports = node_ports(run.repo / "k8s" / "base")
    if not ports:
        return
    services = run.kubectl("get", "services", "--all-namespaces", "--output", "json")
    holders = [
        f"{port['nodePort']} (Service {item['metadata']['namespace']}/{item['metadata']['name']})"
        for item in json.loads(run.runner.output(services) or "{}").get("items", [])
        if item.get("metadata", {}).get("namespace") != run.namespace
        for port in item.get("spec", {}).get("ports", [])
        if port.get("nodePort") in ports
    ]
    if holders:
        raise DeployError(
            f"node port {', '.join(holders)} is taken, and a Service's node port is "
            f"cluster-wide: another copy runs there. Deploy into that namespace, or remove "
            f"that copy first (kubectl delete -k k8s/ --namespace NAME). Nothing was changed"
        )


def build_and_load(run: Deploy) -> None:
    if run.build:
        run.runner.run(["docker", "build", "--tag", API_IMAGE, run.path(".")])
    images = image_loader.manifest_images(run.repo / "k8s" / "base")
    run.image_ids = image_loader.load_images(run.runner, run.images, images, built=API_IMAGE)


def apply(run: Deploy) -> None:
    exists = run.kubectl(
        "get", "namespace", run.namespace, "--ignore-not-found", "--output", "name"
    )
    if not run.runner.output(exists).strip():
        run.runner.run(run.kubectl("create", "namespace", run.namespace))
    if run.database == "single":
        run.runner.run(run.kubectl("apply", "-k", run.path("k8s/"), "--namespace", run.namespace))
        return
    with galera_overlay(run.repo / "k8s") as overlay:
        run.runner.run(run.kubectl("apply", "-k", str(overlay), "--namespace", run.namespace))


@contextlib.contextmanager
def galera_overlay(k8s: Path) -> Iterator[Path]:
    """A throwaway kustomization of ``k8s`` with the Galera component.

    kustomize refuses an overlay inside the tree it includes (so not in
    k8s/), and takes only relative paths (so it is written for its place)."""
    with tempfile.TemporaryDirectory(prefix="visit-counter-galera-") as overlay:
        relative = os.path.relpath(k8s.resolve(), overlay)
        Path(overlay, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            f"resources: [{relative}]\n"
            f"components: [{relative}/components/galera]\n",
            encoding="utf-8",
        )
        yield Path(overlay)


def roll_api(run: Deploy) -> None:
    """Put the image ID on the API's pod template: a new ID rolls the pods."""
    image_id = run.image_ids.get(API_IMAGE, "")
    if not image_id:
        run.runner.note(f"no local {API_IMAGE} to compare: the API is not restarted")
        return
    key = IMAGE_ANNOTATION.replace(".", "\\.")
    template = f"jsonpath={{.spec.template.metadata.annotations.{key}}}"
    namespace = ("--namespace", run.namespace)
    get = run.kubectl("get", "deployment", "api", *namespace, "--output", template)
    if run.runner.output(get).strip() == image_id:
        run.runner.note(f"deployment/api already runs {API_IMAGE} {image_id[:19]}")
        return
    patch = {"spec": {"template": {"metadata": {"annotations": {IMAGE_ANNOTATION: image_id}}}}}
    merge = ("--type", "merge", "--patch", json.dumps(patch, separators=(",", ":")))
    run.runner.run(run.kubectl("patch", "deployment/api", *namespace, *merge))


def wait_for_rollouts(run: Deploy) -> None:
    namespace, timeout = ("--namespace", run.namespace), f"--timeout={run.timeout}s"
    database = DATABASES[run.database][0]
    for workload in (database, "deployment/api", "deployment/balancer"):
        run.runner.run(run.kubectl("rollout", "status", workload, *namespace, timeout))
    run.runner.run(run.kubectl("get", "pods,services", *namespace, "--selector", APP_SELECTOR))
    # Only the rollout's own pods may answer: an old pod keeps serving
    # through its preStop (35 s), and the balancer may reach it for as long
    # as the cluster DNS caches its address, so wait for the old ones to go.
    columns = "custom-columns=NAME:.metadata.name,DELETING:.metadata.deletionTimestamp"
    listing = run.kubectl("get", "pods", *namespace, "--selector", API_SELECTOR, "--no-headers")
    rows = [
        line.split() for line in run.runner.output([*listing, "--output", columns]).splitlines()
    ]
    leaving = [f"pod/{row[0]}" for row in rows if row[1:] != ["<none>"]]
    if leaving:
        run.runner.run(run.kubectl("wait", "--for=delete", *leaving, *namespace, timeout))


def remove_other_database(run: Deploy) -> None:
    """The database not chosen goes, once the API has moved off it."""
    (other,) = (label for name, (_, label) in DATABASES.items() if name != run.database)
    selector = f"{APP_SELECTOR},app.kubernetes.io/component={other}"
    run.runner.run(
        run.kubectl(
            "delete", DATABASE_KINDS, "--selector", selector, "--namespace", run.namespace,
            "--ignore-not-found",
        )
    )  # fmt: skip


def wait_for_answers(run: Deploy) -> None:
    look = f"Look: {' '.join(run.kubectl('get', 'pods,services', '--namespace', run.namespace))}"
    run.survey = show_replicas(run.runner, run.url, run.replicas_timeout, look)


def show_replicas(runner: Runner, url: str, timeout: float, hint: str) -> Survey | None:
    """Wait for three replicas to answer on ``url``, then show the counts
    (None in a dry run); ``hint`` says where to look when they do not."""
    survey = runner.act(
        f"GET {url} until {REPLICAS} distinct replicas answer (up to {timeout:.0f}s)",
        lambda: wait_for_replicas(url, REPLICAS, timeout, say=runner.say, hint=hint),
    )
    if survey is not None:
        runner.say(
            f"{REPLICAS} replicas answer on {url} (after {survey.requests} requests). Counts:"
        )
        runner.say("\n".join(count_lines(survey.visits.items())))  # as the API lists them
    return survey


ACTIONS: tuple[Callable[[Deploy], None], ...] = (
    preflight,
    check_credentials,
    check_node_ports,
    build_and_load,
    apply,
    roll_api,
    wait_for_rollouts,
    remove_other_database,
    wait_for_answers,
)


def deploy(run: Deploy) -> Survey | None:
    for action in ACTIONS:
        action(run)
    return run.survey


def main(argv: Sequence[str] | None = None) -> int:
    return exit_status("k8s-deploy", lambda: deploy(Deploy.from_command_line(argv)))


if __name__ == "__main__":
    sys.exit(main())
