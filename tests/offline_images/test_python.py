"""The python:3.13-slim stand-in (ci/offline-images/python/): the Python 3.13
the project's Dockerfile builds on, with a working venv and pip."""

from __future__ import annotations

import json

from tests.utils.docker import Docker

IMAGE = "python:3.13-slim"


def test_python_image_is_313_with_a_working_venv(docker: Docker) -> None:
    script = (
        "set -e; python --version; python3 --version; pip --version; "
        "python -m venv /tmp/venv; /tmp/venv/bin/pip --version; "
        "/tmp/venv/bin/python -c 'import sys; print(sys.prefix, sys.prefix != sys.base_prefix)'; "
        # pip as root outside a venv is allowed, as in the official image.
        "python -c 'import os, sysconfig; "
        'print(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))\''
    )
    result = docker.run("run", "--rm", IMAGE, "sh", "-c", script, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Python 3.13.")
    assert lines[1].startswith("Python 3.13.")
    assert lines[2].startswith("pip ")
    assert lines[3].startswith("pip ")
    assert "/tmp/venv/" in lines[3]
    assert lines[4] == "/tmp/venv True"
    assert lines[5] == "False"


def test_python_image_default_command_is_python(docker: Docker) -> None:
    config = docker.run("image", "inspect", "--format", "{{json .Config.Cmd}}", IMAGE).stdout
    assert json.loads(config)[0] in {"python3", "python"}
