"""`invoke vagrant-*` command sequences, through their --dry-run mode: what
they print is what a real run executes, and a dry run executes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import vagrant
from tests.tooling import REPO_ROOT

INVOKE = [sys.executable, "-m", "invoke"]


def invoke(*args: str, path_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path_dir is not None:
        # A PATH where `vagrant` would leave a trace if anything ran it.
        env["PATH"] = f"{path_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [*INVOKE, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def tripwire(tmp_path: Path) -> Path:
    """A `vagrant` on PATH that records any call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vagrant"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/vagrant-calls\nexit 1\n')
    script.chmod(0o755)
    return tmp_path


def commands(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


def test_deploy_on_a_running_vm_syncs_then_provisions(tripwire: Path) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--state", "running", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "vagrant rsync",
        "vagrant provision",
        "GET http://localhost:8000/ until 3 distinct replicas answer (up to 180s)",
    ]
    assert not (tripwire / "vagrant-calls").exists()


@pytest.mark.parametrize("state", ["not_created", "poweroff", "aborted", "shutoff"])
def test_deploy_on_a_vm_that_is_not_running_brings_it_up(tripwire: Path, state: str) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--state", state, path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout)[0] == "vagrant up"
    assert len(commands(result.stdout)) == 2
    assert not (tripwire / "vagrant-calls").exists()


def test_deploy_without_a_state_shows_the_status_query_too(tripwire: Path) -> None:
    result = invoke("vagrant-deploy", "--dry-run", "--timeout", "42", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == [
        "vagrant status --machine-readable",
        "vagrant up",
        "GET http://localhost:8000/ until 3 distinct replicas answer (up to 42s)",
    ]
    assert "assuming no VM yet" in result.stdout
    assert not (tripwire / "vagrant-calls").exists()


def test_destroy(tripwire: Path) -> None:
    result = invoke("vagrant-destroy", "--dry-run", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    assert commands(result.stdout) == ["vagrant destroy --force"]
    assert not (tripwire / "vagrant-calls").exists()


def test_drill(tripwire: Path) -> None:
    result = invoke("vagrant-drill", "--dry-run", path_dir=tripwire / "bin")
    assert result.returncode == 0, result.stderr
    selector = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
    assert commands(result.stdout) == [
        "GET http://localhost:8000/ and GET http://localhost:8000/visits: "
        "who answers, and the counts",
        "vagrant ssh --no-tty -c 'sudo kubectl get pods --all-namespaces --selector "
        f"{selector} --no-headers --output "
        "custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name'",
        "vagrant ssh --no-tty -c 'sudo kubectl delete pod '\"'\"'<replica-that-answered>'\"'\"' "
        "--namespace default'",
        "vagrant ssh --no-tty -c 'sudo kubectl rollout status deployment/api "
        "--namespace default --timeout=180s'",
        f"vagrant ssh --no-tty -c 'sudo kubectl get pods --namespace default --selector "
        f"{selector} --output=wide'",
        "GET http://localhost:8000/ until 3 distinct replicas answer again, "
        "then compare the counts",
    ]
    assert not (tripwire / "vagrant-calls").exists()


def test_a_failing_command_stops_the_task_with_its_name(tripwire: Path) -> None:
    # Not a dry run: the tripwire `vagrant` fails, and the task says which
    # command did.
    result = invoke("vagrant-destroy", path_dir=tripwire / "bin")
    assert result.returncode == 1
    assert "vagrant-destroy: `vagrant destroy --force` failed (exit status 1)" in result.stderr
    assert (tripwire / "vagrant-calls").read_text() == "destroy --force\n"


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


def test_the_drill_deletes_the_pod_that_answered() -> None:
    pods = vagrant.parse_pods("visit-counter   api-7d9-aaaaa\nvisit-counter   api-7d9-bbbbb\n")
    assert pods == [("visit-counter", "api-7d9-aaaaa"), ("visit-counter", "api-7d9-bbbbb")]
    assert vagrant.pick_pod(pods, "api-7d9-bbbbb") == ("visit-counter", "api-7d9-bbbbb")
    # REPLICA_NAME overridden: any API pod will do.
    assert vagrant.pick_pod(pods, "custom-name") == ("visit-counter", "api-7d9-aaaaa")
    with pytest.raises(vagrant.VagrantTaskError, match="is it deployed"):
        vagrant.pick_pod([], "api-7d9-aaaaa")
    assert vagrant.drill_commands("visit-counter", "api-7d9-bbbbb")[0] == [
        "vagrant",
        "ssh",
        "--no-tty",
        "-c",
        "sudo kubectl delete pod api-7d9-bbbbb --namespace visit-counter",
    ]
