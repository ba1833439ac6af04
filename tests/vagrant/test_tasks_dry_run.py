"""`invoke vagrant-*` command sequences, through their --dry-run mode: what
they print is what a real run executes, and a dry run executes nothing."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from deploy import vagrant
from tests.utils.run import Completed, run

INVOKE = [sys.executable, "-m", "invoke"]


def invoke(*args: str, path_dir: Path | None = None) -> Completed:
    # A PATH where `vagrant` would leave a trace if anything ran it.
    env = {} if path_dir is None else {"PATH": f"{path_dir}{os.pathsep}{os.environ['PATH']}"}
    return run(*INVOKE, *args, check=False, env=env, timeout=60)


TOOLS = ("vagrant", "kubectl", "docker", "kind", "k3d", "minikube", "k3s")


@pytest.fixture
def tripwire(tmp_path: Path) -> Path:
    """`vagrant`, `kubectl`, `docker`... on PATH that record any call in
    TOOL-calls and fail."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/{tool}-calls\nexit 1\n')
        script.chmod(0o755)
    return tmp_path


def nothing_ran(tripwire: Path) -> bool:
    return not any((tripwire / f"{tool}-calls").exists() for tool in TOOLS)


def printed(stdout: str) -> list[str]:
    """The commands printed as ``+ command``."""
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


def commands(stdout: str) -> list[str]:
    """The commands a task printed, after invoke's own echo of the module it
    runs (tasks.py stays thin: the logic is in deploy/)."""
    lines = printed(stdout)
    assert lines, stdout
    assert lines[0].startswith(f"{sys.executable} -m deploy."), lines[0]
    return lines[1:]


def test_deploy_on_a_running_vm_syncs_then_provisions(tripwire: Path) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--state", "running", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "vagrant rsync",
        "vagrant provision",
        "vagrant ssh --no-tty -c 'sudo cat /etc/rancher/k3s/k3s.yaml'",
        "write .vagrant/kubeconfig (server https://127.0.0.1:26443, mode 0600)",
        "GET http://localhost:8000/ until 3 distinct replicas answer (up to 180s)",
    ]
    assert nothing_ran(tripwire)


@pytest.mark.parametrize("state", ["not_created", "poweroff", "aborted", "shutoff"])
def test_deploy_on_a_vm_that_is_not_running_brings_it_up(tripwire: Path, state: str) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--state", state, path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout)[0] == "vagrant up"
    assert len(commands(result.stdout)) == 4
    assert nothing_ran(tripwire)


def test_deploy_without_a_state_shows_the_status_query_too(tripwire: Path) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--timeout", "42", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "vagrant status --machine-readable",
        "vagrant up",
        "vagrant ssh --no-tty -c 'sudo cat /etc/rancher/k3s/k3s.yaml'",
        "write .vagrant/kubeconfig (server https://127.0.0.1:26443, mode 0600)",
        "GET http://localhost:8000/ until 3 distinct replicas answer (up to 42s)",
    ]
    assert "assuming no VM yet" in result.stdout
    assert nothing_ran(tripwire)


def test_destroy(tripwire: Path) -> None:
    result = invoke("vagrant-destroy", "--dry-run", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == ["vagrant destroy --force"]
    assert nothing_ran(tripwire)


def test_drill_runs_the_drills_with_the_vms_kubeconfig(tripwire: Path) -> None:
    result = invoke(
        "vagrant-drill", "--dry-run", "--drill", "pod-delete", path_dir=tripwire / "bin"
    )
    assert result.returncode == 0, result.stderr
    api = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
    k = "kubectl --kubeconfig .vagrant/kubeconfig"
    assert commands(result.stdout) == [
        f"{k} get deployments --all-namespaces --selector "
        f"{api} --no-headers --output custom-columns=NAMESPACE:.metadata.namespace",
        "GET http://localhost:8000/visits: the counts before",
        "poll GET http://localhost:8000/ every 50 ms (new connection each) until the drill ends",
        "GET http://localhost:8000/: which replica answers",
        f"{k} get pods --selector {api} --no-headers "
        "--output custom-columns=NAME:.metadata.name --namespace default",
        f"{k} delete pod '<replica-that-answered>' --namespace default",
        f"{k} rollout status deployment/api --timeout=180s --namespace default",
        f"{k} get pods --selector {api} --output=wide --namespace default",
        "GET http://localhost:8000/ until 3 distinct replicas answer again",
    ]
    assert result.stdout.splitlines()[-1] == "pod-delete: dry run"
    assert nothing_ran(tripwire)


def test_drill_runs_every_drill_by_default(tripwire: Path) -> None:
    result = invoke("vagrant-drill", "--dry-run", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    drills = [line for line in result.stdout.splitlines() if line.startswith("== drill ")]
    assert drills == [
        "== drill pod-delete",
        "== drill rollout",
        "== drill db-outage",
        "== drill db-restart",
    ]
    assert nothing_ran(tripwire)


def test_a_failing_command_stops_the_task_with_its_name(tripwire: Path) -> None:
    # Not a dry run: the tripwire `vagrant` fails, and the task says which
    # command did.
    result = invoke("vagrant-destroy", path_dir=tripwire / "bin")
    assert result.returncode == 1
    assert "vagrant-destroy: `vagrant destroy --force` failed (exit status 1)" in result.stderr
    assert (tripwire / "vagrant-calls").read_text() == "destroy --force\n"


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
        "k3s kubectl rollout status deployment/api --namespace default --timeout=5m",
        "GET http://127.0.0.1:30001/ until 3 distinct replicas answer (up to 180s)",
    ):
        assert expected in ran
    assert ran.index("docker build --tag visit-counter-api:dev .") < ran.index(
        "k3s kubectl apply -k k8s/ --namespace default"
    )
    assert nothing_ran(tripwire)


def test_k8s_deploy_and_k8s_drill_dry_runs_run_nothing(tripwire: Path) -> None:
    deploy = invoke("k8s-deploy", "--dry-run", "--kubeconfig", "kc", path_dir=tripwire / "bin")
    assert deploy.returncode == 0, deploy.stderr
    assert "kubectl --kubeconfig kc apply -k k8s/ --namespace default" in commands(deploy.stdout)
    drill = invoke("k8s-drill", "--dry-run", "--drill", "db-outage", path_dir=tripwire / "bin")
    assert drill.returncode == 0, drill.stderr
    assert "kubectl scale deployment/db --replicas=0 --namespace default" in commands(drill.stdout)
    assert nothing_ran(tripwire)


def test_an_unknown_drill_stops_k8s_drill_with_one_line(tripwire: Path) -> None:
    result = invoke(
        "k8s-drill", "--dry-run", "--drill", "pod-delete,reboot", path_dir=tripwire / "bin"
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "k8s-drill: unknown drill(s) reboot: choose from pod-delete, rollout, db-outage, db-restart"
    ]


# The pieces the sequences are made of.


def test_parse_state_reads_machine_readable_status() -> None:
    output = (
        "1732550000,default,metadata,provider,virtualbox\n"
        "1732550000,default,provider-name,virtualbox\n"
        "1732550000,default,state,running\n"
        "1732550000,default,state-human-short,running\n"
    )
    assert vagrant.parse_state(output) == "running"
    with pytest.raises(vagrant.VagrantTaskError):
        vagrant.parse_state("nothing useful\n")


def test_the_vms_kubeconfig_points_at_the_forwarded_port() -> None:
    k3s_yaml = (
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: AAAA\n"
        "    server: https://127.0.0.1:6443\n  name: default\n"
    )
    rewritten = vagrant.host_kubeconfig(k3s_yaml)
    assert "    server: https://127.0.0.1:26443\n" in rewritten
    assert rewritten.replace("26443", "6443") == k3s_yaml
    with pytest.raises(
        vagrant.VagrantTaskError, match=re.escape("no `server: https://127.0.0.1:6443`")
    ):
        vagrant.host_kubeconfig("clusters: []\n")


def test_the_vms_kubeconfig_is_written_for_this_user_only(tmp_path: Path) -> None:
    from deploy.shell import Shell

    class FakeVm(Shell):
        def query(
            self,
            argv: list[str],
            dry_run_answer: str,
            stdin: str | None = None,
            stdin_note: str = "",
        ) -> str:
            assert argv == vagrant.kubeconfig_command()
            return "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"

    path = tmp_path / ".vagrant" / "kubeconfig"
    vagrant.write_kubeconfig(FakeVm(say=lambda line: None), path)
    assert path.read_text().endswith("server: https://127.0.0.1:26443\n")
    assert path.stat().st_mode & 0o777 == 0o600


def test_vagrant_drill_needs_the_kubeconfig_vagrant_deploy_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.shell import Shell

    monkeypatch.chdir(tmp_path)
    with pytest.raises(vagrant.VagrantTaskError, match="run `invoke vagrant-deploy` first"):
        vagrant.drill(Shell(say=lambda line: None))
