"""`invoke dev`'s inner loop (compose.dev.yaml): an edit under api/ answers
within seconds on every replica, with no image rebuild, in containers still
hardened."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localservers.project import REPO_ROOT
from tests.utils.run import Completed, run
from tests.utils.stack import get_script

PROJECT = "visit-counter-watchtest"
# Its own image tag, so nothing here touches the image other tests use, and
# no host port.
OVERRIDE = """
services:
  api:
    image: visit-counter-api:watchtest
  balancer:
    ports: !reset []
"""
FILES = ["-f", "compose.yaml", "-f", "compose.dev.yaml", "-f", "compose.test.yaml"]
EDITED_GREETING = "Howdy from"


@pytest.fixture
def project_copy(docker: str, tmp_path: Path) -> Iterator[Path]:
    """The files the stack is built from, copied so the test can edit api/."""
    tracked = run(
        "git", "ls-files", "api", "Dockerfile", ".dockerignore", "compose.yaml",
        "compose.dev.yaml", "gunicorn.conf.py", "requirements.txt", "haproxy",
    ).stdout.split()  # fmt: skip
    for name in tracked:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "compose.test.yaml").write_text(OVERRIDE)
    yield tmp_path
    compose(tmp_path, "down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
    run("docker", "image", "rm", "-f", "visit-counter-api:watchtest", check=False)


def compose(cwd: Path, *args: str, check: bool = True) -> Completed:
    return run("docker", "compose", "-p", PROJECT, *FILES, *args, cwd=cwd, check=check, timeout=600)


def greeting(cwd: Path, index: int = 1) -> str:
    """GET / from inside one api container (nothing publishes a port here)."""
    script = get_script("/", timeout=5)
    exec_ = ("exec", "--index", str(index), "api", "python", "-c", script)
    return compose(cwd, *exec_, check=False).stdout


def edited_everywhere(cwd: Path, replicas: int) -> bool:
    return all(greeting(cwd, i).startswith(EDITED_GREETING) for i in range(1, replicas + 1))


def test_an_edit_under_api_answers_within_seconds_without_a_rebuild(project_copy: Path) -> None:
    compose(project_copy, "up", "--detach", "--build", "--wait", "--wait-timeout", "180")
    assert greeting(project_copy).startswith("Hello from ")
    containers = compose(project_copy, "ps", "--quiet", "api").stdout.split()
    assert len(containers) == 3
    container = containers[0]
    image_before = run("docker", "inspect", "--format", "{{.Image}}", container).stdout

    greeting_module = project_copy / "api" / "greeting.py"
    source = greeting_module.read_text()
    assert "Hello from" in source, "the edit must change what GET / answers"
    greeting_module.write_text(source.replace("Hello from", EDITED_GREETING))
    edited_at = time.monotonic()
    while not edited_everywhere(project_copy, len(containers)):
        if time.monotonic() - edited_at > 120:
            logs = compose(project_copy, "logs", "api", check=False).stdout
            pytest.fail(f"the edit never answered:\n{logs[-3000:]}")
        time.sleep(0.2)
    # Reported, never judged: a timed assertion on a shared 2-core machine
    # would only be flaky. What is asserted is the mechanism: the same
    # container and image, the workers reloaded.
    print(f"edit to new answer: {time.monotonic() - edited_at:.1f} s")
    assert compose(project_copy, "ps", "--quiet", "api").stdout.split() == containers
    inspect = json.loads(run("docker", "inspect", container).stdout)[0]
    assert inspect["Image"] + "\n" == image_before, "the edit rebuilt the image"
    # Still hardened: read-only root, non-root, no capabilities.
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True
    assert inspect["Config"]["User"] == "10001:10001"
    assert inspect["HostConfig"]["CapDrop"] == ["ALL"]
