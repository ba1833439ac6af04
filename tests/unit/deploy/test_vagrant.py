"""What `invoke vagrant-*` does, below invoke: the VM's state read from
vagrant, the kubeconfig the host gets, and the deploy the VM runs itself
(python3 -m deploy.k8s_deploy on its bare system python)."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from deploy import vagrant
from deploy.commands import DeployError, Runner
from tests.utils.run import run
from tests.utils.scripted import Scripted, make_tripwire, nothing_ran, printed


@pytest.fixture
def tripwire(tmp_path: Path) -> Path:
    return make_tripwire(tmp_path)


def test_the_vm_deploys_with_k8s_deploy_on_a_bare_python(tripwire: Path) -> None:
    # provision.sh's command, on a python without site-packages (-S): the VM
    # has only its system python3.
    env = {"PATH": f"{tripwire / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    args = ["--loader", "k3s", "--kubectl", "k3s kubectl", "--url", "http://127.0.0.1:30001/"]
    result = run(
        sys.executable, "-S", "-E", "-m", "deploy.k8s_deploy", *args, "--dry-run",
        check=False, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ran = printed(result.stdout)
    k3s_images = "/var/lib/rancher/k3s/agent/images"
    for expected in (
        "docker build --tag visit-counter-api:dev .",
        f"docker save --output {k3s_images}/visit-counter-api.tar visit-counter-api:dev",
        f"k3s ctr -n k8s.io images import {k3s_images}/visit-counter-api.tar",
        f"docker save --output {k3s_images}/mariadb.tar mariadb:11.8",
        "k3s kubectl apply -k k8s/ --namespace default",
        "k3s kubectl rollout status deployment/api --namespace default --timeout=300s",
        "GET http://127.0.0.1:30001/ until 3 distinct replicas answer (up to 180s)",
    ):
        assert expected in ran
    assert ran.index("docker build --tag visit-counter-api:dev .") < ran.index(
        "k3s kubectl apply -k k8s/ --namespace default"
    )
    assert nothing_ran(tripwire)


def test_parse_state_reads_machine_readable_status() -> None:
    output = (
        "1732550000,default,metadata,provider,virtualbox\n"
        "1732550000,default,provider-name,virtualbox\n"
        "1732550000,default,state,running\n"
        "1732550000,default,state-human-short,running\n"
    )
    assert vagrant.parse_state(output) == "running"
    with pytest.raises(DeployError):
        vagrant.parse_state("nothing useful\n")


def test_the_vms_kubeconfig_points_at_the_forwarded_port() -> None:
    k3s_yaml = (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: AAAA\n"
        "    server: https://127.0.0.1:6443\n  name: default\n"
    )
    rewritten = vagrant.host_kubeconfig(k3s_yaml)
    assert "    server: https://127.0.0.1:26443\n" in rewritten
    assert rewritten.replace("26443", "6443") == k3s_yaml
    with pytest.raises(DeployError, match=re.escape("no `server: https://127.0.0.1:6443`")):
        vagrant.host_kubeconfig("clusters: []\n")


def test_the_vms_kubeconfig_is_written_for_this_user_only(tmp_path: Path) -> None:
    k3s_yaml = "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
    vm = Scripted({"sudo cat /etc/rancher/k3s/k3s.yaml": k3s_yaml})
    path = tmp_path / ".vagrant" / "kubeconfig"
    vagrant.write_kubeconfig(Runner(vm, say=lambda line: None), path)
    assert vm.lines == [shlex.join(vagrant.kubeconfig_command())]
    assert path.read_text().endswith("server: https://127.0.0.1:26443\n")
    assert path.stat().st_mode & 0o777 == 0o600


def test_vagrant_drill_needs_the_kubeconfig_vagrant_deploy_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    vm = Scripted()
    with pytest.raises(DeployError, match="run `invoke vagrant-deploy` first"):
        vagrant.drill(Runner(vm, say=lambda line: None))
    assert vm.calls == []
