"""Write ``k8s/secret.env``, the database passwords kustomize turns into a Secret.

Run from the repository root with nothing but the standard library:

    python3 -m deploy.k8s_secret            # k8s/secret.env from .env, or the dev defaults
    python3 -m deploy.k8s_secret --env-file prod.env --output /tmp/secret.env

The values come from ``.env`` when it exists (every key must be there: a
missing one is an error naming it), otherwise from the development defaults,
the ``${VAR:-default}`` defaults in ``compose.yaml``. No value is ever written
into a committed file; ``k8s/secret.env`` is gitignored.

The file format is kustomize's ``secretGenerator`` ``envs`` file: one
``KEY=VALUE`` line per key, the value taken verbatim up to the end of the line
(no quoting), so a value can hold no newline and must not start or end with
white space. A shell script may write it itself, e.g.
``printf 'DB_PASSWORD=%s\\nDB_ROOT_PASSWORD=%s\\n' "$pw" "$root_pw" >k8s/secret.env``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# The Secret's keys, named as in .env and compose.yaml. Only the passwords are
# secret; the database and user names are ordinary settings in the manifests.
SECRET_KEYS = ("DB_PASSWORD", "DB_ROOT_PASSWORD")

# `${NAME:-default}` or `${NAME-default}`: compose's interpolation with a default.
_DEFAULT_RE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):?-(?P<default>[^}]*)\}")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretError(ValueError):
    """Bad or missing input; the message is one line meant for the user."""


def compose_defaults(compose_text: str) -> dict[str, str]:
    """Every ``${VAR:-default}`` default in compose.yaml's text, comments aside."""
    defaults: dict[str, str] = {}
    for line in compose_text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for match in _DEFAULT_RE.finditer(line):
            name, default = match["name"], match["default"]
            if defaults.setdefault(name, default) != default:
                raise SecretError(f"compose.yaml gives {name} two different defaults")
    return defaults


def parse_env_file(text: str, source: str = ".env") -> dict[str, str]:
    """Parse a dotenv file the way Compose reads ``.env``, for the common cases.

    ``KEY=VALUE`` lines, an optional ``export`` prefix, blank lines and ``#``
    comments. A value in single quotes is literal; in double quotes, ``\\"``
    and ``\\\\`` are unescaped; an unquoted value ends at `` #``.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.fullmatch(key):
            raise SecretError(f"{source} line {number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\([\\\"])", r"\1", value[1:-1])
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def secret_values(compose_file: Path, env_file: Path) -> dict[str, str]:
    """The Secret's values: from ``env_file`` when it exists, else compose's defaults."""
    if env_file.exists():
        source = env_file.name
        found = parse_env_file(env_file.read_text(encoding="utf-8"), source)
    else:
        source = f"{compose_file.name}'s defaults"
        found = compose_defaults(compose_file.read_text(encoding="utf-8"))
    values: dict[str, str] = {}
    for key in SECRET_KEYS:
        if key not in found:
            raise SecretError(
                f"{source} has no {key}: add it (see .env.example)"
                if env_file.exists()
                else f"{compose_file.name} has no ${{{key}:-...}} default"
            )
        value = found[key]
        if not value:
            raise SecretError(f"{key} in {source} is empty; the database needs a password")
        if "\n" in value or "\r" in value or value != value.strip():
            raise SecretError(
                f"{key} in {source} has a newline or leading/trailing white space, "
                "which a KEY=VALUE secret file cannot hold"
            )
        values[key] = value
    return values


def render_secret_env(values: Mapping[str, str]) -> str:
    """The ``KEY=VALUE`` text of k8s/secret.env."""
    return "".join(f"{key}={values[key]}\n" for key in SECRET_KEYS)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m deploy.k8s_secret",
        description="Write k8s/secret.env (the database passwords) from .env or the dev defaults.",
    )
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--env-file", type=Path, help="default: REPO/.env")
    parser.add_argument("--output", type=Path, help="default: REPO/k8s/secret.env")
    args = parser.parse_args(argv)
    repo: Path = args.repo
    env_file: Path = args.env_file or repo / ".env"
    output: Path = args.output or repo / "k8s" / "secret.env"
    try:
        values = secret_values(repo / "compose.yaml", env_file)
    except (SecretError, OSError) as exc:
        print(f"k8s-secret: {exc}", file=sys.stderr)
        return 1
    write_private_file(output, render_secret_env(values))
    source = env_file if env_file.exists() else "compose.yaml's dev defaults"
    print(f"k8s-secret: wrote {output} ({', '.join(SECRET_KEYS)}) from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
