"""Getting the project's images into a cluster that has no registry.

Each image is built or pulled into the local Docker Engine, then copied into
the cluster's container runtime as that kind of cluster supports (the table
is in docs/kubernetes.md): ``local`` nodes are Docker containers running
containerd, so ``docker save | docker exec -i NODE ctr import`` into each;
kind, k3d and minikube have their own commands; ``k3s`` runs on the node;
``none`` leaves it to the cluster's registry. The steps are data, so a dry
run prints what a real run executes.
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
# The Docker image ID last imported under a tag: the same ID skips the import.
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
_IMAGE_RE = re.compile(r"^\s*-?\s*image:\s*['\"]?([^'\"\s#]+)", re.MULTILINE)
Step = list[Argv]  # one command, or a producer piped into its consumer


@dataclass(frozen=True)
class Loader:
    """``cluster`` names a kind or k3d cluster or a minikube profile;
    ``node_ids`` are the local cluster's node containers."""

    kind: str
    cluster: str = ""
    node_ids: tuple[str, ...] = ()

    def tools(self) -> dict[str, str]:
        names = [] if self.kind == "none" else ["docker", self.kind]
        return {name: INSTALL_HINTS[name] for name in names if name in INSTALL_HINTS}

    def _ctr(self, node: str, *args: str, stdin: bool = False) -> Argv:
        if self.kind == "local":
            return ["docker", "exec", *(["-i"] if stdin else []), node, *CTR, *args]
        return ["k3s", *CTR, *args]

    def listing_command(self, node: str = "") -> Argv | None:
        """Lists the node's images with their labels, where that is cheap."""
        return self._ctr(node, "images", "ls") if self.kind in ("local", "k3s") else None

    def load_steps(self, image: str, image_id: str, node: str = "") -> list[Step]:
        ref = containerd_ref(image)
        label = [self._ctr(node, "images", "label", ref, PIN_LABEL, f"{ID_LABEL}={image_id}")]
        if self.kind == "local":
            importer = self._ctr(node, "images", "import", "--digests", "-", stdin=True)
            return [[["docker", "save", image], importer], label]
        if self.kind == "k3s":
            tarball = f"{K3S_IMAGES_DIR}/{image_name(image)}.tar"
            save = ["docker", "save", "--output", tarball, image]
            import_ = self._ctr(node, "images", "import", tarball)
            return [[["mkdir", "-p", K3S_IMAGES_DIR]], [save], [import_], label]
        if self.kind == "kind":
            return [[["kind", "load", "docker-image", image, "--name", self.cluster or "kind"]]]
        if self.kind == "k3d":
            return [[["k3d", "image", "import", image, "--cluster", self.cluster or "k3s-default"]]]
        if self.kind == "minikube":
            profile = ["--profile", self.cluster] if self.cluster else []
            return [[["minikube", "image", "load", image, *profile]]]
        return []


def choose_loader(loader: str, context: str = "", cluster: str = "") -> Loader:
    """The loader asked for, or with ``auto`` the one the kubectl context's
    name implies (kind and k3d name theirs ``kind-NAME``/``k3d-NAME``)."""
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
    """The name containerd stores an image under, the one the kubelet
    resolves a short name like ``mariadb:11.8`` to."""
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
    ref, mark = containerd_ref(image), f"{ID_LABEL}={image_id}"
    return any(line.split()[:1] == [ref] and mark in line for line in listing.splitlines())


def manifest_images(k8s_dir: Path) -> list[str]:
    """Every container image the manifests in ``k8s_dir`` run, in file order."""
    texts = (path.read_text(encoding="utf-8") for path in sorted(k8s_dir.glob("*.yaml")))
    return list(dict.fromkeys(image for text in texts for image in _IMAGE_RE.findall(text)))


def read_node_ids(path: Path) -> tuple[str, ...]:
    """The container ids in ``.cluster/nodes`` (``NAME ID`` lines, from cluster/up.sh)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
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

    ``built``, the image this deploy builds, must be there; any other image
    Docker lacks is pulled first (offline, build the stand-ins:
    ci/build-offline-images.sh). An image a node already holds under this ID
    is skipped, where the node can tell cheaply. A dry run shows ``<id of IMAGE>``.
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
    for node in loader.node_ids if loader.kind == "local" else ("",):  # "": one place
        listing_command = loader.listing_command(node)
        listing = runner.probe(listing_command) if listing_command else None
        for image, loaded_id in ids.items():
            if listing and already_loaded(listing, image, loaded_id):
                where = f"node {node[:12]}" if node else "the cluster"
                runner.note(f"{where} already has {image} ({loaded_id[:19]})")
                continue
            for step in loader.load_steps(image, loaded_id, node):
                runner.run(*step)
    return ids
