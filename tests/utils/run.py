"""The one way tests run a command: text in and out, captured, with a timeout."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from localservers.project import REPO_ROOT

Completed = subprocess.CompletedProcess[str]


def run(
    *args: str | Path,
    check: bool = True,
    cwd: Path = REPO_ROOT,
    env: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    input: str | None = None,
    timeout: float = 300,
) -> Completed:
    """Run ``args`` in ``cwd`` (the repository by default).

    ``env`` is added to this process's environment and ``unset`` names are
    removed from it. With ``check`` a non-zero exit fails the test with the
    command's output; without it the caller judges the exit status.
    """
    environment = {**os.environ, **(env or {})}
    for name in unset:
        environment.pop(name, None)
    argv = [str(arg) for arg in args]
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=environment,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
