"""vagrant/provision.sh: strict, k3s pinned, and the deploy left to the code
every cluster gets. (shellcheck checks it with every script: `invoke lint`.)"""

from __future__ import annotations

from localservers.project import REPO_ROOT


def test_the_provisioning_script_is_strict_and_pins_k3s() -> None:
    text = (REPO_ROOT / "vagrant" / "provision.sh").read_text()
    assert "set -euo pipefail" in text
    assert 'K3S_VERSION="v1.' in text
    assert 'INSTALL_K3S_VERSION="$K3S_VERSION"' in text
    # After k3s, the VM deploys with the code every cluster gets (its
    # sequence is checked in tests/vagrant/test_tasks_dry_run.py).
    assert "python3 -m deploy.k8s_deploy --loader k3s --kubectl 'k3s kubectl'" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for gone in ("docker build", "ctr images import", "kubectl apply", "rollout status"):
        assert gone not in code, f"provision.sh does {gone!r} itself again"
