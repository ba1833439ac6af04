"""The manifests tier's helpers: running k8s-gen, and the rendered objects."""

from __future__ import annotations

import base64
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localservers.project import REPO_ROOT
from tests.utils.run import Completed, run

Obj = dict[str, Any]

KOMPOSE_HINT = "sudo bash ci/install-kompose.sh"
CHECKOV_HINT = "sudo bash ci/install-checkov.sh"


def k8s_gen(repo: Path, kompose: str, *extra: str) -> Completed:
    """`python -m deploy.k8s_gen` (what `invoke k8s-gen` runs) on ``repo``."""
    return run(
        sys.executable, "-m", "deploy.k8s_gen", "--repo", repo, "--kompose", kompose, *extra,
        check=False,
    )  # fmt: skip


def committed_k8s_files(*, generated: bool | None = None) -> list[str]:
    """Paths, relative to k8s/, of the files under k8s/ that git tracks: all,
    or only the generated base (``generated=True``) or only the hand-written
    rest (``generated=False``)."""
    listed = run("git", "ls-files", "k8s").stdout.split()
    names = sorted(str(Path(name).relative_to("k8s")) for name in listed)
    if generated is None:
        return names
    return [name for name in names if name.startswith("base/") == generated]


def copy_committed_k8s(destination: Path, *, generated: bool | None = None) -> None:
    """The committed files of k8s/ (see :func:`committed_k8s_files`) into
    ``destination``, folders kept."""
    for name in committed_k8s_files(generated=generated):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / "k8s" / name, target)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too), by relative path."""
    if not directory.exists():
        return {}
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class Rendered:
    """`kubectl kustomize` of the committed k8s/, with a known secret.env."""

    objects: list[Obj]
    text: str
    path: Path
    passwords: dict[str, str]

    def get(self, kind: str, name: str) -> Obj:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, got {len(found)}"
        return found[0]

    @property
    def secret(self) -> Obj:
        found = [o for o in self.objects if o["kind"] == "Secret"]
        assert len(found) == 1, f"expected one Secret, got {len(found)}"
        return found[0]

    @property
    def workloads(self) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == "Deployment"]

    def secret_value(self, key: str) -> str:
        return base64.b64decode(self.secret["data"][key]).decode()


def copy_compose(repo: Path) -> None:
    """compose.yaml and the config files it names (haproxy/), into ``repo``."""
    shutil.copyfile(REPO_ROOT / "compose.yaml", repo / "compose.yaml")
    shutil.copytree(REPO_ROOT / "haproxy", repo / "haproxy", dirs_exist_ok=True)
