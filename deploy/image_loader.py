"""Getting the project's images into a cluster that has no registry.

The images are built (or pulled) into the local Docker Engine, then copied
into the cluster's container runtime, the way each kind of cluster supports:

- ``local``: this project's local cluster (``invoke cluster-up``). Each node
  is a Docker container running containerd: ``docker save | docker exec -i
  NODE ctr import``, into every node.
- ``kind``, ``k3d``, ``minikube``: their own ``load``/``import`` commands.
- ``k3s``: on the k3s node itself (the Vagrant VM): ``docker save`` into k3s's
  images directory, which k3s also imports at every start, then ``k3s ctr``.
- ``none``: the cluster pulls from a registry the user pushed to.

The command sequences are data (:class:`Step` lists), so a dry run prints
what a real run executes and tests check them without a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deploy.commands import Argv, DeployError, Runner

LOADERS = ("local", "kind", "k3d", "minikube", "k3s", "none")
LOCAL_CONTEXT = "visit-counter-local"
# Pinned images are exempt from the kubelet's image garbage collection: with
# no registry to pull from, a collected image could not come back.
PIN_LABEL = "io.cri-containerd.pinned=pinned"
# The Docker image ID (the config digest) last imported under a tag, so a
# re-deploy of the same image skips the import.
ID_LABEL = "visit-counter.dev/image-id"
# k3s imports every tarball here when it starts, so the images survive even a
# wiped containerd store.
K3S_IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
CTR = ("ctr", "-n", "k8s.io")  # the namespace the kubelet's images live in

INSTALL_HINTS = {
    "docker": "Docker Engine: Debian's docker.io package",
    "kind": "kind, from the kind project's releases",
    "k3d": "k3d, from the k3d project's releases",
    "minikube": "minikube, from the minikube project's releases",
    "k3s": "k3s: run this on the k3s node",
}


@dataclass(frozen=True)
class Step:
    """One command; with ``stdin_from``, that command's output is piped into it."""

    argv: Argv
    stdin_from: Argv | None = None


@dataclass(frozen=True)
class Loader:
    """How images reach this cluster. ``cluster`` names a kind or k3d cluster
    or a minikube profile; ``node_ids`` are the local cluster's node containers."""

    kind: str
    cluster: str = ""
    node_ids: tuple[str, ...] = ()

    def nodes(self) -> tuple[str, ...]:
        """Where the load steps run, one by one: each node of the local
        cluster; for any other kind, one place (``""``)."""
        return self.node_ids if self.kind == "local" else ("",)

    def tools(self) -> dict[str, str]:
        """The programs the load steps run, with how to install each."""
        if self.kind == "none":
            return {}
        names = ["docker"] + ([self.kind] if self.kind in INSTALL_HINTS else [])
        return {name: INSTALL_HINTS[name] for name in names}

    def _ctr(self, node: str, *args: str, stdin: bool = False) -> Argv:
        if self.kind == "local":
            return ["docker", "exec", *(["-i"] if stdin else []), node, *CTR, *args]
        return ["k3s", *CTR, *args]

    def listing_command(self, node: str = "") -> Argv | None:
        """Lists the node's images with their labels, where that is cheap."""
        if self.kind in ("local", "k3s"):
            return self._ctr(node, "images", "ls")
        return None

    def load_steps(self, image: str, image_id: str, node: str = "") -> list[Step]:
        ref = containerd_ref(image)
        label = self._ctr(node, "images", "label", ref, PIN_LABEL, f"{ID_LABEL}={image_id}")
        if self.kind == "local":
            save = ["docker", "save", image]
            importer = self._ctr(node, "images", "import", "--digests", "-", stdin=True)
            return [Step(importer, stdin_from=save), Step(label)]
        if self.kind == "k3s":
            tarball = f"{K3S_IMAGES_DIR}/{image_name(image)}.tar"
            return [
                Step(["mkdir", "-p", K3S_IMAGES_DIR]),
                Step(["docker", "save", "--output", tarball, image]),
                Step(self._ctr(node, "images", "import", tarball)),
                Step(label),
            ]
        if self.kind == "kind":
            return [Step(["kind", "load", "docker-image", image, "--name", self.cluster or "kind"])]
        if self.kind == "k3d":
            cluster = self.cluster or "k3s-default"
            return [Step(["k3d", "image", "import", image, "--cluster", cluster])]
        if self.kind == "minikube":
            profile = ["--profile", self.cluster] if self.cluster else []
            return [Step(["minikube", "image", "load", image, *profile])]
        return []


def choose_loader(loader: str, context: str = "", cluster: str = "") -> Loader:
    """The loader asked for, or with ``auto`` the one the kubectl context's
    name implies (kind and k3d name their contexts ``kind-NAME``/``k3d-NAME``)."""
    if loader != "auto":
        if loader not in LOADERS:
            raise DeployError(f"unknown loader {loader!r}: choose from auto, {', '.join(LOADERS)}")
        return Loader(loader, cluster)
    if context == LOCAL_CONTEXT:
        return Loader("local")
    for prefix in ("kind", "k3d"):
        if context.startswith(f"{prefix}-"):
            return Loader(prefix, cluster or context.removeprefix(f"{prefix}-"))
    if context == "minikube":
        return Loader("minikube", cluster)
    raise DeployError(
        f"cannot tell how to get images into the cluster of kubectl context {context!r}: "
        f"pass --loader ({', '.join(LOADERS)}; none if it pulls from a registry you pushed to)"
    )


def containerd_ref(image: str) -> str:
    """The fully qualified name containerd stores an image under, the name
    the kubelet resolves a short one like ``mariadb:11.8`` to."""
    first, sep, _ = image.partition("/")
    if not sep:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


def image_name(image: str) -> str:
    """``mariadb:11.8`` -> ``mariadb``: the repository's last path part."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]


def already_loaded(listing: str, image: str, image_id: str) -> bool:
    """Whether ``ctr images ls`` output shows ``image`` labelled with this ID."""
    ref = containerd_ref(image)
    mark = f"{ID_LABEL}={image_id}"
    for line in listing.splitlines():
        fields = line.split()
        if fields and fields[0] == ref and mark in line:
            return True
    return False


_IMAGE_RE = re.compile(r"^\s*-?\s*image:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)


def manifest_images(k8s_dir: Path) -> list[str]:
    """Every container image the manifests in ``k8s_dir`` run, in file order."""
    images: list[str] = []
    for path in sorted(k8s_dir.glob("*.yaml")):
        for image in _IMAGE_RE.findall(path.read_text(encoding="utf-8")):
            if image not in images:
                images.append(image)
    return images


def read_node_ids(path: Path) -> tuple[str, ...]:
    """The container ids in the local cluster's ``.cluster/nodes`` (``NAME ID``
    per line, written by cluster/up.sh)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    node_ids = tuple(fields[1] for fields in map(str.split, lines) if len(fields) == 2)
    if not node_ids:
        raise DeployError(
            f"{path} is missing or empty: is the local cluster up? (invoke cluster-up)"
        )
    return node_ids


def inspect_command(image: str) -> Argv:
    """Prints the Docker image ID (the config digest containerd also keys it by)."""
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image]


def load_images(runner: Runner, loader: Loader, images: list[str], built: str) -> dict[str, str]:
    """Copy ``images`` from the local Docker into the cluster; each one's Docker ID.

    ``built`` is the image this deploy builds: it must be there. Any other
    image Docker lacks is pulled first (on an offline machine, build the
    stand-ins: ci/build-offline-images.sh). An image the node already holds
    under this ID is skipped, where the node can tell cheaply. A dry run
    knows no ID: it shows ``<id of IMAGE>``.
    """

    def image_id(image: str, found: str) -> str:
        return f"<id of {image}>" if runner.dry_run else found.strip()

    if loader.kind == "none":
        found = runner.probe(inspect_command(built))
        return {built: image_id(built, found)} if found is not None else {}
    ids: dict[str, str] = {}
    for image in images:
        found = runner.probe(inspect_command(image))
        if found is None and image == built:
            raise DeployError(f"{image} is not in the local Docker: build it (drop --no-build)")
        if found is None:
            runner.run(["docker", "pull", image])
            found = runner.output(inspect_command(image))
        ids[image] = image_id(image, found)

    for node in loader.nodes():
        listing_command = loader.listing_command(node)
        listing = runner.probe(listing_command) if listing_command else None
        for image, loaded_id in ids.items():
            if listing and already_loaded(listing, image, loaded_id):
                where = f"node {node[:12]}" if node else "the cluster"
                runner.note(f"{where} already has {image} ({loaded_id[:19]})")
                continue
            for step in loader.load_steps(image, loaded_id, node):
                runner.run(*([step.stdin_from] if step.stdin_from else []), step.argv)
    return ids
