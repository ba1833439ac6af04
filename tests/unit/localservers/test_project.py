"""What `invoke lint` hands to shellcheck: every shell script, by extension
or by shebang, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from localservers.project import REPO_ROOT, is_shell_script


def test_the_repositorys_scripts_are_found() -> None:
    assert is_shell_script(REPO_ROOT / ".ci" / "run")  # no extension: its shebang
    assert is_shell_script(REPO_ROOT / "vagrant" / "provision.sh")
    assert not is_shell_script(REPO_ROOT / "tasks.py")


@pytest.mark.parametrize(
    ("name", "first_line", "shell"),
    [
        ("build.sh", "", True),
        ("run", "#!/usr/bin/env bash", True),
        ("run", "#!/bin/sh -e", True),
        ("run", "#! /bin/dash", True),
        ("run", "#!/usr/bin/env python3", False),
        ("run", "#!/usr/bin/env", False),
        ("run", "#!", False),
        ("notes", "bash is not a shebang", False),
        ("entry.py", "#!/usr/bin/python3", False),
    ],
)
def test_a_script_is_known_by_its_extension_or_its_shebang(
    tmp_path: Path, name: str, first_line: str, shell: bool
) -> None:
    path = tmp_path / name
    path.write_text(first_line + "\necho hi\n")
    assert is_shell_script(path) is shell
