"""The manifests tier: `invoke k8s-gen` (kompose), `kubectl kustomize`, checkov.

Every test works on temp copies: the developer's own k8s/secret.env and .env
are never read or touched.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tooling import REPO_ROOT, require_tool

Obj = dict[str, Any]

KOMPOSE_HINT = "sudo bash ci/install-kompose.sh"
KUBECTL_HINT = "it comes with the dev dependencies: pip install -r requirements-dev.txt"
CHECKOV_HINT = "sudo bash ci/install-checkov.sh"


def run(
    args: Sequence[str],
    cwd: Path = REPO_ROOT,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


def k8s_gen(repo: Path, kompose: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`python -m deploy.k8s_gen` (what `invoke k8s-gen` runs) on ``repo``."""
    return run(
        [sys.executable, "-m", "deploy.k8s_gen", "--repo", str(repo), "--kompose", kompose, *extra]
    )


def committed_k8s_files() -> list[str]:
    """Names of the files under k8s/ that git tracks."""
    listed = run(["git", "ls-files", "k8s"]).stdout.split()
    return sorted(Path(name).name for name in listed)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too), by relative path."""
    if not directory.exists():
        return {}
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session")
def kompose() -> str:
    return require_tool("kompose", KOMPOSE_HINT)


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl", KUBECTL_HINT)


@pytest.fixture(scope="session")
def checkov() -> str:
    return require_tool("checkov", CHECKOV_HINT)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory, kompose: str) -> Path:
    """A temp repo holding only compose.yaml, after `k8s-gen` ran on it (no .env)."""
    repo = tmp_path_factory.mktemp("generated")
    shutil.copyfile(REPO_ROOT / "compose.yaml", repo / "compose.yaml")
    result = k8s_gen(repo, kompose)
    assert result.returncode == 0, result.stderr
    return repo


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


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory, kubectl: str) -> Rendered:
    """Render the committed k8s/ exactly as `kubectl apply -k k8s/` would apply it.

    The Secret's values are random, written by `python3 -m deploy.k8s_secret`
    from a .env (run with -S: no site-packages, so it needs the standard
    library only, as the VM's provisioning relies on), so a test can look for
    them anywhere they must not be.
    """
    work = tmp_path_factory.mktemp("rendered")
    k8s = work / "k8s"
    k8s.mkdir()
    for name in committed_k8s_files():
        shutil.copyfile(REPO_ROOT / "k8s" / name, k8s / name)
    passwords = {
        "DB_PASSWORD": "pw-" + secrets.token_hex(12),
        "DB_ROOT_PASSWORD": "root-" + secrets.token_hex(12),
    }
    env_file = work / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in passwords.items()))
    written = run(
        [
            sys.executable,
            "-S",
            "-m",
            "deploy.k8s_secret",
            "--env-file",
            str(env_file),
            "--output",
            str(k8s / "secret.env"),
        ]
    )
    assert written.returncode == 0, written.stderr
    result = run([kubectl, "kustomize", str(k8s)])
    assert result.returncode == 0, result.stderr
    path = work / "rendered.yaml"
    path.write_text(result.stdout)
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(objects=objects, text=result.stdout, path=path, passwords=passwords)
