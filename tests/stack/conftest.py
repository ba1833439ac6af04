"""The stack tier: the real image and compose.yaml on a real Docker Engine.

One Compose project, named apart from a developer's own `visit-counter`
stack, is brought up once for the tier and torn down with its volume at the
end, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.utils.run import run
from tests.utils.stack import PROJECT, Stack
from tests.utils.tools import missing, require_tool


@pytest.fixture(scope="session")
def docker() -> str:
    path = require_tool("docker", "Debian: apt-get install docker.io")
    if run("docker", "info", check=False, timeout=30).returncode != 0:
        missing("no Docker Engine answers (`docker info` failed)")
    version = run("docker", "compose", "version", "--short", check=False, timeout=30)
    if version.returncode != 0 or not version.stdout.strip().lstrip("v").startswith("2"):
        missing("Docker Compose v2 is not installed (`docker compose version` failed)")
    return path


@pytest.fixture(scope="session")
def stack(docker: str) -> Iterator[Stack]:
    stack = Stack(PROJECT)
    stack.compose("down", "--volumes", "--remove-orphans", check=False)
    stack.compose("build", timeout=900)
    try:
        stack.up()
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
