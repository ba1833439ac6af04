"""The database passwords: ``k8s/secret.env`` written as Compose resolves
them, and checked against the running database before a deploy.

    python3 -m deploy.k8s_secret [--env-file prod.env] [--output PATH]

``docker compose config`` interpolates compose.yaml from the environment and
``.env`` exactly as ``docker compose up`` does, so Compose and Kubernetes get
the same password. The Vagrant VM has no Compose: the host writes the file
and rsync copies it in. The format is kustomize's ``envs`` file: ``KEY=VALUE``
lines, the value verbatim (no quoting, so no newline nor edge white space);
a script may write it: ``printf 'DB_PASSWORD=%s\\nDB_ROOT_PASSWORD=%s\\n' "$pw" "$root_pw"``.

MariaDB applies passwords only when it initialises an empty volume, so a
changed file would roll the API onto a password the database refuses and
stall the rollout: :func:`check` asks the running database first, with the
passwords on the exec's stdin, never in an argv or a log line.

Standard library only: ``deploy.k8s_deploy`` imports it inside the VM.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from deploy import options
from deploy.commands import Argv, DeployError, Kubectl, Runner, capture, exit_status
from deploy.options import Option

# Only the passwords are secret (names are ordinary settings). Each one's
# account: the user's name comes from the db container's MARIADB_USER.
ACCOUNTS = {"DB_PASSWORD": "'{user}'@'%'", "DB_ROOT_PASSWORD": "'root'@'%'"}
SECRET_KEYS = tuple(ACCOUNTS)
# Which compose.yaml variable of which service carries which key; in
# Kubernetes each becomes NAME_FILE, the key's mounted file (k8s/patches/).
SECRET_ENV: Mapping[str, Mapping[str, str]] = {
    "api": {"DB_PASSWORD": "DB_PASSWORD"},
    "db": {"MARIADB_PASSWORD": "DB_PASSWORD", "MARIADB_ROOT_PASSWORD": "DB_ROOT_PASSWORD"},
}
COMPOSE_HINT = (
    "Docker Compose v2 (the docker CLI's compose plugin) reads .env as `docker compose up` does"
)
# Reads the two passwords from stdin and tries each account over the local
# socket: "user NAME", then "KEY ok|refused|error" per password. MariaDB's
# 1045 is "access denied"; anything else (2002: not up yet) is no verdict.
CHECK_SCRIPT = " ".join(
    (
        "IFS= read -r user_pw && IFS= read -r root_pw || exit 3;",
        "check() {",
        'if out=$(MYSQL_PWD="$3" mariadb --user="$2" --connect-timeout=5',
        '--execute="SELECT 1" 2>&1 >/dev/null); then echo "$1 ok";',
        "else case $out in",
        '*"ERROR 1045"*) echo "$1 refused";;',
        '*) echo "$1 error"; printf "%s\\n" "$out" >&2;;',
        "esac; fi;",
        "};",
        'echo "user $MARIADB_USER";',
        'check DB_PASSWORD "$MARIADB_USER" "$user_pw";',
        'check DB_ROOT_PASSWORD root "$root_pw"',
    )
)


def compose_config_command(compose_file: Path, env_file: Path | None) -> Argv:
    env = ["--env-file", str(env_file)] if env_file is not None else []
    return ["docker", "compose", "--file", str(compose_file), *env, "config", "--format", "json"]


def compose_config(compose_file: Path, env_file: Path | None = None) -> dict[str, object]:
    if shutil.which("docker") is None:
        raise DeployError(f"docker not found: {COMPOSE_HINT}")
    if env_file is not None and not env_file.is_file():
        raise DeployError(f"{env_file} not found")
    compose_file = compose_file.resolve()
    command = compose_config_command(compose_file, env_file and env_file.resolve())
    result = capture(command, timeout=60, cwd=compose_file.parent)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        reason = lines[-1].replace(f"{compose_file.parent}{os.sep}", "")
        if "is not a docker command" in reason:
            reason += f" ({COMPOSE_HINT})"
        raise DeployError(f"`docker compose config` failed: {reason}")
    config: dict[str, object] = json.loads(result.stdout)
    return config


def secret_values(config: Mapping[str, object]) -> dict[str, str]:
    services = config.get("services")
    values: dict[str, str] = {}
    for service, variables in SECRET_ENV.items():
        found = services.get(service) if isinstance(services, dict) else None
        environment = found.get("environment") if isinstance(found, dict) else None
        for variable, key in variables.items():
            raw = environment.get(variable) if isinstance(environment, dict) else None
            if not isinstance(raw, str):
                raise DeployError(f"compose.yaml's {service} service sets no {variable}")
            # Compose prints each `$` of a resolved value as `$$`.
            value = raw.replace("$$", "$")
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


def render_secret_env(values: Mapping[str, str]) -> str:
    return "".join(f"{key}={values[key]}\n" for key in SECRET_KEYS)


def read_secret_env(path: Path) -> dict[str, str]:
    """As kustomize reads it: ``#`` lines and blank lines skipped."""
    lines = (line.lstrip() for line in path.read_text(encoding="utf-8").splitlines())
    pairs = (line.partition("=") for line in lines if line and not line.startswith("#"))
    return {key: value for key, _, value in pairs}


def staged_file(path: Path, text: str, mode: int) -> Path:
    """``text`` in a temporary file beside ``path``, for an atomic rename onto it."""
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


def shown(repo: Path, relative: str) -> str:
    """A path under the repository as printed commands show it: relative
    when running from the repository root."""
    return relative if repo.resolve() == Path.cwd().resolve() else str(repo / relative)


def ensure_secret_env(runner: Runner, repo: Path) -> Path:
    """k8s/secret.env, written first when missing."""
    path, secret = repo / "k8s" / "secret.env", shown(repo, "k8s/secret.env")
    if path.exists() and path.stat().st_size > 0:
        runner.note(f"using {secret}")
        return path
    try:
        config = runner.output(compose_config_command(Path(shown(repo, "compose.yaml")), None))
        runner.act(
            f"write {secret} from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)",
            lambda: write_secret_env(path, secret_values(json.loads(config))),
        )
    except (DeployError, OSError) as exc:
        raise DeployError(
            f"{secret} is missing and cannot be written here ({exc}): write it where Docker "
            "Compose runs (`invoke k8s-gen`), or as KEY=VALUE lines (see deploy/k8s_secret.py)"
        ) from exc
    return path


def db_exec(kubectl: Kubectl, flag: str, namespace: str, workload: str, *command: str) -> Argv:
    # Each database's container is named as its workload is (deployment/db: db).
    container = workload.partition("/")[2]
    return kubectl(
        "exec", flag, workload, "-c", container, "--namespace", namespace, "--", *command
    )


def check_command(kubectl: Kubectl, namespace: str, workload: str) -> Argv:
    return db_exec(kubectl, "-i", namespace, workload, "sh", "-c", CHECK_SCRIPT)


def check_stdin(secret: Mapping[str, str]) -> str:
    return "".join(f"{secret.get(key, '')}\n" for key in SECRET_KEYS)


def parse_check(output: str) -> tuple[str, dict[str, str]]:
    """``(user name, {KEY: ok|refused|error})`` from the script's output."""
    found = dict(line.strip().partition(" ")[::2] for line in output.splitlines())
    return found.get("user", ""), {key: found[key] for key in SECRET_KEYS if key in found}


def refusal(refused: list[str], user: str, kubectl: Kubectl, namespace: str, workload: str) -> str:
    """Which password the database refused, and how to rotate it."""
    client = shlex.join(
        db_exec(kubectl, "-it", namespace, workload, "mariadb", "--user=root", "--password")
    )
    statements = " ".join(
        f"ALTER USER {ACCOUNTS[key].format(user=user)} IDENTIFIED BY 'NEW';"
        + (" ALTER USER 'root'@'localhost' IDENTIFIED BY 'NEW';" * (key == "DB_ROOT_PASSWORD"))
        for key in refused
    )
    return (
        f"the running database (namespace {namespace}) refuses {' and '.join(refused)} from "
        "k8s/secret.env: it was initialised with another password, and MariaDB only applies "
        "passwords when it initialises an empty volume. Nothing was changed. To rotate, change "
        f"it in the database first ({client}, which asks for the current root password, then "
        f"{statements}) and put NEW in k8s/secret.env; or restore the old value in k8s/secret.env"
    )


def check(
    runner: Runner, kubectl: Kubectl, namespace: str, secret_env: Path, workload: str
) -> None:
    """Refuse, in one line, a password the running ``workload`` would refuse."""
    ready = kubectl("get", workload, "--namespace", namespace, "--ignore-not-found")
    ready_replicas = runner.output([*ready, "--output", "jsonpath={.status.readyReplicas}"])
    if not (ready_replicas.strip().isdigit() and int(ready_replicas) > 0):
        runner.note(f"no ready database in namespace {namespace}: no password to check")
        return
    output = runner.output(
        check_command(kubectl, namespace, workload),
        stdin=check_stdin(read_secret_env(secret_env)),
        stdin_note="DB_PASSWORD and DB_ROOT_PASSWORD from k8s/secret.env",
    )
    user, results = parse_check(output)
    refused = [key for key in SECRET_KEYS if results.get(key) == "refused"]
    if refused:
        raise DeployError(refusal(refused, user, kubectl, namespace, workload))
    if any(results.get(key) != "ok" for key in SECRET_KEYS):
        runner.note("the database did not answer the password check: skipped")


OPTIONS = (
    Option("repo", ".", "the repository root"),
    Option("env_file", "", "the .env file (default: Compose's own, REPO/.env)"),
    Option("output", "", "default: REPO/k8s/secret.env"),
)


def main(argv: Sequence[str] | None = None) -> int:
    description = "Write k8s/secret.env (the database passwords) as Compose resolves them."
    args = options.parser("python3 -m deploy.k8s_secret", description, OPTIONS).parse_args(argv)
    repo = Path(args.repo)
    output = Path(args.output) if args.output else repo / "k8s" / "secret.env"

    def write() -> None:
        env_file = Path(args.env_file) if args.env_file else None
        try:
            values = secret_values(compose_config(repo / "compose.yaml", env_file))
        except OSError as exc:
            raise DeployError(str(exc)) from None
        write_secret_env(output, values)
        print(f"k8s-secret: wrote {output} ({', '.join(SECRET_KEYS)}) from `docker compose config`")

    return exit_status("k8s-secret", write)


if __name__ == "__main__":
    sys.exit(main())
