"""Run the pinned kompose on compose.yaml; its objects, parsed.

kompose interpolates ``${VAR:-default}`` from its process environment and from
a ``.env`` beside the file, and the committed manifests must not depend on any
developer's ``.env``. So it converts a copy of compose.yaml alone, in a temp
dir, with a minimal environment: the output always carries compose.yaml's
defaults, and the same input always gives the same objects.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from deploy.commands import DeployError, find_tool

KOMPOSE_VERSION = "1.38.0"
KOMPOSE_INSTALL = "sudo bash ci/install-kompose.sh"

Obj = dict[str, Any]


def find_kompose(kompose: str) -> str:
    """The path of a kompose reporting KOMPOSE_VERSION, else DeployError."""
    path = find_tool(kompose, f"install {KOMPOSE_VERSION} with `{KOMPOSE_INSTALL}`")
    result = subprocess.run(  # noqa: S603 (a tool path the user chose)
        [path, "version"], capture_output=True, text=True, check=False, timeout=30
    )
    reported = result.stdout.split()[0] if result.returncode == 0 and result.stdout else ""
    if reported != KOMPOSE_VERSION:
        raise DeployError(
            f"{path} is kompose {reported or '(unknown version)'}, not {KOMPOSE_VERSION}; "
            f"install the pinned one with `{KOMPOSE_INSTALL}`"
        )
    return path


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def kompose_error(stderr: str, workdir: Path) -> str:
    """The one line of kompose's stderr that says what went wrong."""
    lines = [_ANSI_RE.sub("", line).strip() for line in stderr.splitlines()]
    # A Go panic's own line, not the stack trace after it (kompose panics on
    # a readiness label set without its http_get_path, for one).
    fatal = [line for line in lines if line.startswith(("FATA", "ERRO", "panic: "))]
    fatal = fatal or lines or ["no output"]
    message = re.sub(r"^(FATA|ERRO)\s*", "", fatal[-1])
    return message.replace(str(workdir) + os.sep, "")


def copy_config_files(compose_file: Path, workdir: Path) -> list[str]:
    """Copy the files compose.yaml's top-level ``configs:`` name (kompose
    makes each a ConfigMap) beside the lone copy; their relative paths."""
    configs = (yaml.safe_load(compose_file.read_text()) or {}).get("configs") or {}
    copied = []
    for name, config in configs.items():
        relative = Path(str(config.get("file", "")))
        source = compose_file.parent / relative
        if relative.is_absolute() or ".." in relative.parts or not source.is_file():
            raise DeployError(f"compose.yaml's config {name!r} needs a file inside the repo")
        (workdir / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, workdir / relative)
        copied.append(relative.as_posix())
    return copied


def run_kompose(compose_file: Path, kompose: str, workdir: Path) -> list[Obj]:
    """Convert a lone copy of ``compose_file`` in ``workdir``; the parsed objects,
    in file-name order."""
    shutil.copyfile(compose_file, workdir / "compose.yaml")
    config_files = copy_config_files(compose_file, workdir)
    # `-o DIR` writes one file per object only when DIR exists already.
    (workdir / "out").mkdir()
    command = [kompose, "convert", "-f", "compose.yaml", "--with-kompose-annotation=false"]
    command += ["-o", "out"]
    held = ", ".join([compose_file.name, *config_files])
    print("+ " + " ".join(command), f"  (in a temp dir holding only {held})")
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(workdir)}
    result = subprocess.run(  # noqa: S603 (a tool path the user chose)
        command, cwd=workdir, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    if result.returncode != 0:
        raise DeployError(f"kompose rejected compose.yaml: {kompose_error(result.stderr, workdir)}")
    objects: list[Obj] = []
    for path in sorted((workdir / "out").glob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects
