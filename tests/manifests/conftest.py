"""The manifests tier: `invoke k8s-gen` (kompose), `kubectl kustomize`, checkov.

Every test works on temp copies: the developer's own k8s/secret.env and .env
are never read or touched.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest
import yaml

from deploy.commands import KUBECTL
from deploy.k8s_deploy import galera_overlay
from tests.utils.manifests import (
    CHECKOV_HINT,
    KOMPOSE_HINT,
    Rendered,
    copy_committed_k8s,
    copy_compose,
    k8s_gen,
)
from tests.utils.run import run
from tests.utils.tools import require_tool


@pytest.fixture(scope="session")
def kompose() -> str:
    return require_tool("kompose", KOMPOSE_HINT)


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl", KUBECTL)


@pytest.fixture(scope="session")
def checkov() -> str:
    return require_tool("checkov", CHECKOV_HINT)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory, kompose: str) -> Path:
    """A temp repo holding only compose.yaml and the hand-written part of k8s/,
    after `k8s-gen` ran on it (no .env)."""
    repo = tmp_path_factory.mktemp("generated")
    copy_compose(repo)
    copy_committed_k8s(repo / "k8s", generated=False)
    result = k8s_gen(repo, kompose)
    assert result.returncode == 0, result.stderr
    return repo


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
    copy_committed_k8s(k8s)
    passwords = {
        "DB_PASSWORD": "pw-" + secrets.token_hex(12),
        "DB_ROOT_PASSWORD": "root-" + secrets.token_hex(12),
    }
    env_file = work / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in passwords.items()))
    written = run(
        sys.executable, "-S", "-m", "deploy.k8s_secret",
        "--env-file", env_file, "--output", k8s / "secret.env",
        check=False,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    result = run(kubectl, "kustomize", k8s, check=False)
    assert result.returncode == 0, result.stderr
    path = work / "rendered.yaml"
    path.write_text(result.stdout)
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(objects=objects, text=result.stdout, path=path, passwords=passwords)


@pytest.fixture(scope="session")
def rendered_galera(rendered: Rendered, kubectl: str) -> Rendered:
    """The same k8s/ with the Galera component, rendered through the overlay
    `invoke k8s-deploy --database galera` applies."""
    with galera_overlay(rendered.path.parent / "k8s") as overlay:
        result = run(kubectl, "kustomize", overlay, check=False)
    assert result.returncode == 0, result.stderr
    path = rendered.path.parent / "rendered-galera.yaml"
    path.write_text(result.stdout)
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(objects=objects, text=result.stdout, path=path, passwords=rendered.passwords)
