"""`invoke dev`'s watch mode: an edit under api/ reaches the running container."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tooling import REPO_ROOT

PROJECT = "visit-counter-watchtest"
# Its own image tag, so the rebuilt image never replaces the one other tests use.
OVERRIDE = """
services:
  api:
    image: visit-counter-api:watchtest
    ports: !reset []
"""


@pytest.fixture
def project_copy(docker: str, tmp_path: Path) -> Iterator[Path]:
    """The files the stack is built from, copied so the test can edit api/."""
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "api",
            "Dockerfile",
            ".dockerignore",
            "compose.yaml",
            "gunicorn.conf.py",
            "requirements.txt",
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in tracked:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "compose.override.yaml").write_text(OVERRIDE)
    yield tmp_path
    compose(tmp_path, "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
    subprocess.run(
        ["docker", "image", "rm", "-f", "visit-counter-api:watchtest"], capture_output=True
    )


def compose(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-p", PROJECT, *args],
        cwd=cwd,
        check=check,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_an_edit_under_api_reaches_the_running_container(project_copy: Path) -> None:
    compose(project_copy, "up", "--detach", "--build", "--wait", "--wait-timeout", "180")
    probe = "/app/api/watch_probe.py"
    assert compose(project_copy, "exec", "api", "test", "-e", probe, check=False).returncode != 0

    with open(project_copy / "watch.log", "wb") as log:
        watcher = subprocess.Popen(
            ["docker", "compose", "-p", PROJECT, "watch"], cwd=project_copy, stdout=log, stderr=log
        )
    try:
        time.sleep(5)  # let the watcher start before the edit
        (project_copy / "api" / "watch_probe.py").write_text('"""Written by the watch test."""\n')
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if (
                compose(project_copy, "exec", "api", "test", "-e", probe, check=False).returncode
                == 0
            ):
                break
            time.sleep(2)
        else:
            pytest.fail(
                "the edit never reached the container:\n" + (project_copy / "watch.log").read_text()
            )
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
