"""deploy.shell.exit_status: how a deploy or drill command ends."""

from __future__ import annotations

import pytest

from deploy.shell import TaskError, exit_status


def test_a_task_error_is_one_line_on_stderr_and_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail() -> None:
        raise TaskError("the database refused the password")

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
