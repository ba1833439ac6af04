"""Getting images into a cluster without a registry: the loader a kubectl
context implies, the commands each loader runs (as argv data), and which
images a load copies; docker and the node are a scripted executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy import image_loader
from deploy.commands import Argv, DeployError, Runner
from deploy.image_loader import Loader
from localservers.project import REPO_ROOT
from tests.utils.scripted import Answer, Scripted

CTR = ["ctr", "-n", "k8s.io"]


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
    with pytest.raises(DeployError) as caught:
        image_loader.choose_loader("auto", context)
    message = str(caught.value)
    assert "\n" not in message
    assert f"kubectl context {context!r}" in message
    assert "pass --loader" in message


def test_an_explicit_loader_wins_over_the_context() -> None:
    assert image_loader.choose_loader("k3s", "kind-dev") == Loader("k3s")
    with pytest.raises(DeployError, match="unknown loader 'podman'"):
        image_loader.choose_loader("podman", "kind-dev")


def test_local_pipes_docker_save_into_the_node_and_pins_the_image() -> None:
    steps = Loader("local", node_ids=("f00d",)).load_steps("mariadb:11.8", "sha256:abc", "f00d")
    # A step is its stages: ``docker save`` piped into the node's import.
    assert steps == [
        [
            ["docker", "save", "mariadb:11.8"],
            ["docker", "exec", "-i", "f00d", *CTR, "images", "import", "--digests", "-"],
        ],
        [
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
        ],
    ]
    assert Loader("local", node_ids=("f00d",)).listing_command("f00d") == [
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
        [["mkdir", "-p", "/var/lib/rancher/k3s/agent/images"]],
        [["docker", "save", "--output", tarball, "visit-counter-api:dev"]],
        [["k3s", *CTR, "images", "import", tarball]],
        [
            [
                "k3s",
                *CTR,
                "images",
                "label",
                "docker.io/library/visit-counter-api:dev",
                "io.cri-containerd.pinned=pinned",
                "visit-counter.dev/image-id=sha256:abc",
            ]
        ],
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
    assert loader.load_steps("mariadb:11.8", "sha256:abc") == [[argv]]
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


def test_the_images_come_from_the_manifests() -> None:
    images = image_loader.manifest_images(REPO_ROOT / "k8s" / "base")
    assert sorted(images) == ["haproxy:3.0", "mariadb:11.8", "visit-counter-api:dev"]


def test_images_are_found_in_any_manifest_layout(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "containers:\n  - image: 'one:1'\n    name: a\n  - name: b\n    image: two:2 # why\n"
    )
    (tmp_path / "b.yaml").write_text('spec:\n  containers:\n    - image: "one:1"\n')
    assert image_loader.manifest_images(tmp_path) == ["one:1", "two:2"]


def test_images_already_on_the_node_are_skipped_and_missing_ones_pulled() -> None:
    listing = "docker.io/library/visit-counter-api:dev app x visit-counter.dev/image-id=sha256:a1\n"
    mariadb_ids: list[Answer] = [1, "sha256:m2\n"]  # not there, then pulled
    cluster = Scripted({"images ls": listing, "inspect --format '{{.Id}}' mariadb": mariadb_ids})
    ids = image_loader.load_images(
        Runner(cluster),
        Loader("local", node_ids=("n1",)),
        ["visit-counter-api:dev", "mariadb:11.8"],
        built="visit-counter-api:dev",
    )
    assert cluster.ran("docker pull mariadb:11.8")
    assert cluster.ran("docker save mariadb:11.8 | docker exec -i n1")
    assert cluster.ran("label docker.io/library/mariadb:11.8 io.cri-containerd.pinned=pinned")
    assert not cluster.ran("docker save visit-counter-api:dev")
    assert ids == {"mariadb:11.8": "sha256:m2"} | {"visit-counter-api:dev": ""}


def test_every_node_of_the_local_cluster_gets_the_images_it_lacks() -> None:
    # n1 already holds the API image under this id; n2 and n3 hold nothing.
    listing = "docker.io/library/visit-counter-api:dev app x visit-counter.dev/image-id=sha256:a1\n"
    cluster = Scripted(
        {
            "exec n1 ctr -n k8s.io images ls": listing,
            "images ls": "",
            "inspect --format '{{.Id}}' visit-counter-api:dev": "sha256:a1\n",
        }
    )
    image_loader.load_images(
        Runner(cluster),
        Loader("local", node_ids=("n1", "n2", "n3")),
        ["visit-counter-api:dev"],
        built="visit-counter-api:dev",
    )
    assert not cluster.ran("docker exec -i n1")
    assert cluster.ran("docker save visit-counter-api:dev | docker exec -i n2")
    assert cluster.ran("docker save visit-counter-api:dev | docker exec -i n3")


def test_the_local_nodes_are_read_from_the_file_cluster_up_writes(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes"
    nodes.write_text("visit-counter-control-plane c0ffee\nvisit-counter-worker f00d\n")
    assert image_loader.read_node_ids(nodes) == ("c0ffee", "f00d")
    nodes.write_text("")
    with pytest.raises(DeployError, match="is the local cluster up"):
        image_loader.read_node_ids(nodes)
    with pytest.raises(DeployError, match="is the local cluster up"):
        image_loader.read_node_ids(tmp_path / "absent")
