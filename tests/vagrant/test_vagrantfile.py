"""The Vagrantfile, checked by Debian's vagrant without a hypervisor.

`vagrant validate --ignore-provider` loads the Vagrantfile and validates every
setting except the provider blocks, offline: no box download, no VM. It also
checks that the provisioning script it names exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localservers.project import REPO_ROOT
from tests.utils.run import Completed, run
from tests.utils.tools import require_tool


def validate(tmp_path: Path, **env: str) -> Completed:
    vagrant = require_tool("vagrant", "Debian's vagrant package")
    environment = {
        # A private Vagrant home: no boxes, plugins or state from the user's.
        "VAGRANT_HOME": str(tmp_path / "vagrant.d"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        **env,
    }
    return run(
        vagrant, "validate", "--ignore-provider",
        check=False,
        env=environment,
        unset=[name for name in ("VC_VM_CPUS", "VC_VM_MEMORY", "VC_VM_BOX") if name not in env],
        timeout=120,
    )  # fmt: skip


def test_vagrantfile_validates(tmp_path: Path) -> None:
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_cpus_and_memory_come_from_the_environment(tmp_path: Path) -> None:
    result = validate(tmp_path, VC_VM_CPUS="4", VC_VM_MEMORY="8192", VC_VM_BOX="bento/debian-12")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("VC_VM_CPUS", "two"), ("VC_VM_CPUS", "0"), ("VC_VM_MEMORY", "512"), ("VC_VM_MEMORY", "4G")],
)
def test_a_bad_size_stops_vagrant_with_one_clear_line(
    tmp_path: Path, name: str, value: str
) -> None:
    result = validate(tmp_path, **{name: value})
    assert result.returncode != 0
    assert f"{name} must be a whole number of at least" in result.stderr
    assert f'got "{value}"' in result.stderr


def test_the_vagrantfile_names_the_provisioning_script_and_both_providers() -> None:
    text = (REPO_ROOT / "Vagrantfile").read_text()
    assert 'path: "vagrant/provision.sh"' in text
    assert 'run: "always"' in text
    assert 'config.vm.provider "virtualbox"' in text
    assert 'config.vm.provider "libvirt"' in text
    # rsync works with both providers; a provider-specific default would not.
    assert 'type: "rsync"' in text
