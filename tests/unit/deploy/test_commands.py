"""deploy.commands: how kubectl is called, what a dry run prints and runs,
how every deploy, drill and VM command ends; and a missing tool: one line
naming it and its fix, from the helpers that run outside pytest too; a skip
on a laptop and a failure in CI inside the tests; a message and a non-zero
exit from the benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy import commands
from deploy.commands import (
    CommandFailed,
    DeployError,
    Kubectl,
    Runner,
    ToolMissing,
    exit_status,
    find_tool,
    print_only,
)
from localservers.project import REPO_ROOT
from tests.utils.run import run
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


@pytest.mark.parametrize("error", [DeployError, CommandFailed, ToolMissing])
def test_a_deploy_error_is_one_line_on_stderr_and_status_1(
    capsys: pytest.CaptureFixture[str], error: type[DeployError]
) -> None:
    def fail() -> None:
        raise error("the database refused the password")

    assert exit_status("k8s-deploy", fail) == 1
    assert capsys.readouterr().err == "k8s-deploy: the database refused the password\n"


def test_a_finished_task_is_status_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status("k8s-drill", lambda: None) == 0
    assert capsys.readouterr().err == ""


def test_other_errors_are_not_swallowed() -> None:
    def crash() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        exit_status("k8s-drill", crash)


A_TEST_WITHOUT_ITS_TOOL = """
import pytest

from deploy.commands import find_tool


@pytest.fixture
def server() -> str:
    return find_tool("no-such-server", "Debian: apt-get install no-such")


def test_in_a_fixture(server: str) -> None:
    pass


def test_in_the_body() -> None:
    find_tool("no-such-client", "Debian: apt-get install no-such")
"""


def test_a_missing_tool_is_named_with_its_fix() -> None:
    with pytest.raises(ToolMissing) as caught:
        find_tool("no-such-tool", "Debian: apt-get install no-such", "no-such-alternative")
    assert str(caught.value) == "no-such-tool is not installed (Debian: apt-get install no-such)"


def test_an_alternative_name_is_found() -> None:
    assert Path(find_tool("no-such-tool", "", "sh")).name == "sh"


def test_sbin_is_searched_beyond_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    daemon = sbin / "some-daemon"
    daemon.write_text("#!/bin/sh\n")
    daemon.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(commands, "SYSTEM_DIRS", (str(sbin),))
    assert find_tool("some-daemon", "") == str(daemon)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("", "2 skipped"), ("true", "1 failed, 1 error")], ids=["laptop", "ci"]
)
def test_tool_missing_skips_on_a_laptop_and_fails_in_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    (tmp_path / "test_needs_a_tool.py").write_text(A_TEST_WITHOUT_ITS_TOOL)
    result = run(
        sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
        "-rA", str(tmp_path),
        check=False, cwd=tmp_path, env={"CI": ci, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert outcome in result.stdout, result.stdout + result.stderr
    assert "no-such-server is not installed (Debian: apt-get install no-such)" in result.stdout
    assert "no-such-client is not installed (Debian: apt-get install no-such)" in result.stdout


def test_the_benchmark_says_which_tool_is_missing_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing):
        find_tool("wrk", "")  # else the benchmark would run
    result = run(
        sys.executable, "-m", "bench.run", "--quick", "--results", tmp_path / "results",
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "bench: wrk is not installed (Debian: apt-get install wrk)\n"
    assert not (tmp_path / "results").exists()
