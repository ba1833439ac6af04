"""The manifests tier's helpers: running k8s-gen, and the rendered objects."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localservers.project import REPO_ROOT
from tests.utils.run import Completed, run

Obj = dict[str, Any]

KOMPOSE_HINT = "sudo bash ci/install-kompose.sh"
# The checkov checks a manifest may skip (each with its reason, on the object).
ACCEPTED_SKIPS = {"CKV_K8S_15", "CKV_K8S_21", "CKV_K8S_40", "CKV_K8S_43"}
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


def assert_checkov_passes(checkov: str, rendered: Rendered) -> None:
    """checkov finds nothing in ``rendered``, and every check it skips is one
    the project accepts, with a reason of its own."""
    result = run(
        checkov, "--file", rendered.path, "--framework", "kubernetes",
        "--skip-download", "--output", "json",
        # Offline: no policy download (--skip-download), no guideline mapping.
        env={"BC_SKIP_MAPPING": "TRUE"},
        check=False,
    )  # fmt: skip
    # checkov exits 0 on a file it could not parse, so the report is checked too.
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report:\n{result.stdout}\n{result.stderr}")
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert not failed, failed
    assert result.returncode == 0, result.stderr
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(rendered.objects)
    assert summary["passed"] > 100
    skipped = report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} <= ACCEPTED_SKIPS
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} lacks a reason"
