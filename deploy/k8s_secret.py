"""Write ``k8s/secret.env``, the database passwords kustomize turns into a Secret.

    python3 -m deploy.k8s_secret            # k8s/secret.env from .env, or the dev defaults
    python3 -m deploy.k8s_secret --env-file prod.env --output /tmp/secret.env

The values are the ones Compose hands the containers: ``docker compose config
--format json`` interpolates compose.yaml from the shell's environment and
``.env`` (or ``--env-file``) exactly as ``docker compose up`` does, quoting and
``$`` included, so Compose and Kubernetes always get the same password. It
needs Docker Compose v2 (no Docker Engine). The Vagrant VM has no Compose: the
host writes this file (``invoke k8s-gen``, ``invoke vagrant-deploy``) and rsync
copies it in. No value is ever written into a committed file;
``k8s/secret.env`` is gitignored.

The file format is kustomize's ``secretGenerator`` ``envs`` file: one
``KEY=VALUE`` line per key, the value taken verbatim up to the end of the line
(no quoting), so a value can hold no newline and must not start or end with
white space. A shell script may write it itself, e.g.
``printf 'DB_PASSWORD=%s\\nDB_ROOT_PASSWORD=%s\\n' "$pw" "$root_pw" >k8s/secret.env``.

Standard library only: ``deploy.k8s_deploy`` imports it inside the VM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy.commands import DeployError, exit_status

# The Secret's keys, named as in .env and compose.yaml. Only the passwords are
# secret; the database and user names are ordinary settings in the manifests.
SECRET_KEYS = ("DB_PASSWORD", "DB_ROOT_PASSWORD")

# Which compose.yaml environment variable of which service carries which
# Secret key. In Kubernetes each of them becomes NAME_FILE, the path of the
# key's file (k8s/patches/*-deployment.yaml mount them; deploy.k8s_base takes
# the literal out of the base), and Compose's value of it is the key's value.
SECRET_ENV: Mapping[str, Mapping[str, str]] = {
    "api": {"DB_PASSWORD": "DB_PASSWORD"},
    "db": {"MARIADB_PASSWORD": "DB_PASSWORD", "MARIADB_ROOT_PASSWORD": "DB_ROOT_PASSWORD"},
}
COMPOSE_HINT = (
    "Docker Compose v2 (the docker CLI's compose plugin) reads .env as `docker compose up` does"
)


def compose_config_command(compose_file: Path, env_file: Path | None) -> list[str]:
    command = ["docker", "compose", "--file", str(compose_file)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    return [*command, "config", "--format", "json"]


def compose_config(compose_file: Path, env_file: Path | None = None) -> dict[str, object]:
    """compose.yaml as ``docker compose config --format json`` resolves it."""
    if shutil.which("docker") is None:
        raise DeployError(f"docker not found: {COMPOSE_HINT}")
    if env_file is not None and not env_file.is_file():
        raise DeployError(f"{env_file} not found")
    compose_file = compose_file.resolve()
    result = subprocess.run(  # noqa: S603 (docker, with paths the user chose)
        compose_config_command(compose_file, env_file and env_file.resolve()),
        cwd=compose_file.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        reason = lines[-1].replace(f"{compose_file.parent}{os.sep}", "")
        if "is not a docker command" in reason:
            reason += f" ({COMPOSE_HINT})"
        raise DeployError(f"`docker compose config` failed: {reason}")
    config: dict[str, object] = json.loads(result.stdout)
    return config


def unescape(value: str) -> str:
    """A value as the container gets it: ``docker compose config`` prints each
    ``$`` of a resolved value as ``$$``, so its output loads back unchanged."""
    return value.replace("$$", "$")


def secret_values_from_config(config: Mapping[str, object]) -> dict[str, str]:
    """The Secret's values from a resolved compose config, checked."""
    services = config.get("services")
    values: dict[str, str] = {}
    for service, variables in SECRET_ENV.items():
        found = services.get(service) if isinstance(services, dict) else None
        environment = found.get("environment") if isinstance(found, dict) else None
        for variable, key in variables.items():
            raw = environment.get(variable) if isinstance(environment, dict) else None
            if not isinstance(raw, str):
                raise DeployError(f"compose.yaml's {service} service sets no {variable}")
            value = unescape(raw)
            if values.setdefault(key, value) != value:
                raise DeployError(f"compose.yaml gives {variable} another value than {key}")
    for key, value in values.items():
        if not value:
            raise DeployError(f"{key} is empty; the database needs a password")
        if "\n" in value or "\r" in value or value != value.strip():
            raise DeployError(
                f"{key} has a newline or leading/trailing white space, "
                "which a KEY=VALUE secret file cannot hold"
            )
    return {key: values[key] for key in SECRET_KEYS}


def secret_values(compose_file: Path, env_file: Path | None = None) -> dict[str, str]:
    """The passwords Compose hands the containers (``.env`` beside compose.yaml,
    or ``env_file``), for the Secret."""
    return secret_values_from_config(compose_config(compose_file, env_file))


def render_secret_env(values: Mapping[str, str]) -> str:
    """The ``KEY=VALUE`` text of k8s/secret.env."""
    return "".join(f"{key}={values[key]}\n" for key in SECRET_KEYS)


def staged_file(path: Path, text: str, mode: int) -> Path:
    """``text`` written to a temporary file beside ``path``, with ``mode``,
    for an atomic rename onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp_name, mode)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only."""
    os.replace(staged_file(path, text, 0o600), path)


def write_secret_env(path: Path, values: Mapping[str, str]) -> None:
    write_private_file(path, render_secret_env(values))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m deploy.k8s_secret",
        description="Write k8s/secret.env (the database passwords) as Compose resolves them.",
    )
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--env-file", type=Path, help="default: Compose's own (REPO/.env)")
    parser.add_argument("--output", type=Path, help="default: REPO/k8s/secret.env")
    args = parser.parse_args(argv)
    repo: Path = args.repo
    output: Path = args.output or repo / "k8s" / "secret.env"

    def write() -> None:
        try:
            values = secret_values(repo / "compose.yaml", args.env_file)
        except OSError as exc:
            raise DeployError(str(exc)) from None
        write_secret_env(output, values)
        print(f"k8s-secret: wrote {output} ({', '.join(SECRET_KEYS)}) from `docker compose config`")

    return exit_status("k8s-secret", write)


if __name__ == "__main__":
    sys.exit(main())
