"""deploy.commands: how kubectl is called, and what a dry run prints and runs."""

from __future__ import annotations

import pytest

from deploy.commands import Kubectl, Runner, print_only
from deploy.errors import CommandFailed, DeployError
from tests.utils.scripted import Scripted


def test_kubectl_runs_with_a_kubeconfig() -> None:
    k3s = Kubectl.from_command_line("k3s kubectl", "/etc/kc")
    assert k3s("get", "pods") == ["k3s", "kubectl", "--kubeconfig", "/etc/kc", "get", "pods"]
    assert k3s.executable == "k3s"
    with pytest.raises(DeployError, match="--kubectl is empty"):
        Kubectl.from_command_line(" ")


def test_a_dry_run_prints_each_step_and_runs_nothing() -> None:
    said: list[str] = []
    done: list[str] = []
    runner = Runner(print_only, say=said.append)
    runner.run(["docker", "save", "x"], ["docker", "exec", "-i", "n", "ctr"])
    assert runner.output(["kubectl", "get", "pods"], stdin="secret", stdin_note="a password") == ""
    assert runner.act("write a file", lambda: done.append("written")) is None
    assert said == [
        "+ docker save x | docker exec -i n ctr",
        "+ kubectl get pods  # stdin: a password",
        "+ write a file",
    ]
    assert done == []


def test_a_failed_command_is_one_line_with_its_last_error_line() -> None:
    failing = Runner(Scripted({"kubectl": 1}), say=print)
    with pytest.raises(CommandFailed) as caught:
        failing.run(["kubectl", "apply", "-k", "k8s/"])
    assert str(caught.value) == "`kubectl apply -k k8s/` failed (exit status 1)"
    assert failing.probe(["kubectl", "get", "x"]) is None
