"""A thin runner for the docker CLI that removes whatever it created, for the
tests that start containers of their own (the offline_images tier)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.utils.run import Completed, run


def env(values: Mapping[str, str]) -> list[str]:
    """`docker run`'s options for these environment variables."""
    return [arg for key, value in values.items() for arg in ("-e", f"{key}={value}")]


@dataclass
class Docker:
    """Each container, volume and network gets a unique name and is removed
    by cleanup()."""

    path: str
    prefix: str = field(default_factory=lambda: f"vc-offline-{uuid.uuid4().hex[:10]}")
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> Completed:
        return run(self.path, *args, check=check, timeout=timeout)

    def name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-{uuid.uuid4().hex[:6]}"

    def volume(self) -> str:
        name = self.name("data")
        self.volumes.append(name)
        self.run("volume", "create", name)
        return name

    def network(self) -> str:
        name = self.name("net")
        self.networks.append(name)
        self.run("network", "create", name)
        return name

    def start(self, image: str, *options: str, command: tuple[str, ...] = ()) -> str:
        """`docker run -d` a container that the clean-up removes."""
        name = self.name("db")
        self.containers.append(name)
        self.run("run", "-d", "--name", name, *options, image, *command)
        return name

    def logs(self, container: str) -> str:
        result = self.run("logs", container, check=False)
        return result.stdout + result.stderr

    def inspect(self, container: str) -> dict[str, object]:
        data: list[dict[str, object]] = json.loads(self.run("inspect", container).stdout)
        return data[0]

    def state(self, container: str) -> dict[str, Any]:
        state = self.inspect(container)["State"]
        assert isinstance(state, dict)
        return state

    def wait_healthy(self, container: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        status = "?"
        while time.monotonic() < deadline:
            state = self.state(container)
            if not state.get("Running"):
                raise AssertionError(f"{container} stopped:\n{self.logs(container)[-3000:]}")
            status = state.get("Health", {}).get("Status", "none")
            if status == "healthy":
                return
            time.sleep(0.5)
        raise AssertionError(
            f"{container} not healthy after {timeout}s ({status}):\n{self.logs(container)[-3000:]}"
        )

    def cleanup(self) -> None:
        for container in reversed(self.containers):
            self.run("rm", "-f", "-v", container, check=False)
        for volume in self.volumes:
            self.run("volume", "rm", "-f", volume, check=False)
        for network in self.networks:
            self.run("network", "rm", network, check=False)
