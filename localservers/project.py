"""Facts about this checkout that tasks.py, the tests and the benchmark share."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deploy.commands import find_tool

REPO_ROOT = Path(__file__).resolve().parent.parent

SHELLS = {"sh", "bash", "dash"}


def shell_scripts(root: Path = REPO_ROOT) -> list[str]:
    """The shell scripts among git's files, tracked and new (not ignored):
    those named *.sh and those whose shebang names a shell, such as .ci/run.
    Paths relative to root, sorted."""
    git = find_tool("git", "Debian: apt-get install git")
    listed = subprocess.run(  # noqa: S603 - argv list, no shell
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    names = sorted(set(filter(None, listed.split("\0"))))
    return [name for name in names if (root / name).is_file() and is_shell_script(root / name)]


def is_shell_script(path: Path) -> bool:
    if path.name.endswith(".sh"):
        return True
    with path.open("rb") as handle:
        first = handle.readline(200)
    if not first.startswith(b"#!"):
        return False
    words = first[2:].decode(errors="replace").split()
    if not words:
        return False
    # "#!/usr/bin/env bash" names its shell in the second word.
    interpreter = words[1] if words[0].endswith("/env") and len(words) > 1 else words[0]
    return interpreter.rsplit("/", 1)[-1] in SHELLS
