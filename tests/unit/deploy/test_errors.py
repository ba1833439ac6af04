"""deploy.errors.exit_status: how every deploy, drill and VM command ends."""

from __future__ import annotations

import pytest

from deploy.errors import CommandFailed, DeployError, exit_status
from deploy.tools import ToolMissing


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
