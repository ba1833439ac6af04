"""The stack tier: the real image and compose.yaml on a real Docker Engine.

One Compose project, named apart from a developer's own `visit-counter`
stack, is brought up once for the tier and torn down with its volume at the
end, whatever happens.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.http import Answer, request
from tests.tooling import REPO_ROOT, missing, require_tool

PROJECT = "visit-counter-stacktest"
API_URL = "http://localhost:8000"
IMAGE = "visit-counter-api:dev"


def run(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=REPO_ROOT, check=check, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class Stack:
    project: str

    def compose(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        result = run("docker", "compose", "-p", self.project, *args, check=False, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result.stdout

    def up(self, *extra: str) -> None:
        self.compose("up", "--detach", "--wait", "--wait-timeout", "180", *extra)

    def container_ids(self, service: str) -> list[str]:
        return self.compose("ps", "--quiet", service).split()

    def inspect(self, container: str) -> dict[str, object]:
        document: list[dict[str, object]] = json.loads(run("docker", "inspect", container).stdout)
        return document[0]

    def exec_get(self, service: str, path: str, index: int = 1) -> str:
        """GET from inside a container, reaching that one replica directly."""
        script = (
            "import urllib.request, sys;"
            f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:8000{path}',"
            " timeout=10).read().decode())"
        )
        return self.compose("exec", "--index", str(index), service, "python", "-c", script)


def get(path: str = "/", accept: str | None = None) -> Answer:
    return request(f"{API_URL}{path}", accept=accept)


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
