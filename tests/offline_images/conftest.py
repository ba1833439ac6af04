"""The offline_images tier: CI's stand-ins for the official base images
(ci/offline-images/, built by ci/build-offline-images.sh when no registry is
reachable) keep the parts of the official images' contracts that the
project's compose.yaml and Dockerfile rely on.

Real Docker, no mocks. The tests run against whatever images carry the
official tags, so they hold for the official images too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.utils.docker import Docker
from tests.utils.tools import missing, require_tool

BUILD_HINT = "run: bash ci/install-docker.sh && bash ci/build-offline-images.sh"


@pytest.fixture(scope="module")
def docker(request: pytest.FixtureRequest) -> Iterator[Docker]:
    """Docker, with the image the test module names in IMAGE present."""
    runner = Docker(require_tool("docker", BUILD_HINT))
    if runner.run("info", check=False, timeout=30).returncode != 0:
        missing(f"no Docker Engine answers 'docker info' ({BUILD_HINT})")
    image: str = request.module.IMAGE
    if runner.run("image", "inspect", image, check=False).returncode != 0:
        missing(f"image {image} is not present ({BUILD_HINT})")
    try:
        yield runner
    finally:
        runner.cleanup()
