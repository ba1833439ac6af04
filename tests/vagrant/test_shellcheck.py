"""Every shell script in the repository is shellcheck-clean."""

from __future__ import annotations

from pathlib import Path

from localservers.project import REPO_ROOT
from tests.utils.run import run
from tests.utils.tools import require_tool


def shell_scripts() -> list[str]:
    """Tracked and new (not ignored) files that end in .sh or start with a
    shell shebang, such as .ci/run."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout
    scripts = []
    for name in sorted(set(filter(None, listed.split("\0")))):
        path = REPO_ROOT / name
        if not path.is_file():
            continue
        if name.endswith(".sh") or is_shell_shebang(path):
            scripts.append(name)
    return scripts


def is_shell_shebang(path: Path) -> bool:
    with path.open("rb") as handle:
        first = handle.readline(200)
    if not first.startswith(b"#!"):
        return False
    words = first[2:].decode(errors="replace").split()
    interpreter = words[1] if words and words[0].endswith("/env") and len(words) > 1 else words[0]
    return interpreter.rsplit("/", 1)[-1] in {"sh", "bash", "dash"}


def test_the_scripts_are_found() -> None:
    scripts = shell_scripts()
    assert ".ci/run" in scripts
    assert "vagrant/provision.sh" in scripts


def test_every_shell_script_is_shellcheck_clean() -> None:
    shellcheck = require_tool("shellcheck", "Debian's shellcheck package")
    scripts = shell_scripts()
    result = run(shellcheck, "--external-sources", *scripts, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


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
