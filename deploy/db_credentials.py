"""The database's passwords for k8s-deploy: k8s/secret.env, written when
missing, and does the running database accept them?

MariaDB applies ``MARIADB_PASSWORD``/``MARIADB_ROOT_PASSWORD`` only when it
initialises an empty data directory. A changed k8s/secret.env therefore
rolls the API pods onto a password the existing database refuses: every new
pod stays unready and the rollout stalls. ``k8s-deploy`` asks the running
database first and refuses to apply such a change.

The passwords travel on the exec's stdin, never in an argv or a log line;
inside the container only the client's environment (``MYSQL_PWD``) sees them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path

from deploy import k8s_secret
from deploy.commands import Argv, DeployError, Kubectl, Runner

# Which Secret key is whose password. The user's name comes from the db
# container's own environment (MARIADB_USER), so it cannot drift.
ACCOUNTS = {"DB_PASSWORD": "'{user}'@'%'", "DB_ROOT_PASSWORD": "'root'@'%'"}
KEYS = tuple(ACCOUNTS)

# Reads the two passwords from stdin, then tries each account over the local
# socket. Prints "user NAME", then "KEY ok|refused|error" per password;
# MariaDB's error 1045 is "access denied", anything else (2002: the server
# does not answer yet) means the check could not be made.
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


def read_secret_env(path: Path) -> dict[str, str]:
    """k8s/secret.env as kustomize reads an ``envs`` file: ``KEY=VALUE`` with
    the value verbatim, ``#`` comment lines and blank lines skipped."""
    lines = (line.lstrip() for line in path.read_text(encoding="utf-8").splitlines())
    pairs = (line.partition("=") for line in lines if line and not line.startswith("#"))
    return {key: value for key, _, value in pairs}


def db_exec(kubectl: Kubectl, flag: str, namespace: str, *command: str) -> Argv:
    return kubectl("exec", flag, "deploy/db", "-c", "db", "--namespace", namespace, "--", *command)


def check_command(kubectl: Kubectl, namespace: str) -> Argv:
    return db_exec(kubectl, "-i", namespace, "sh", "-c", CHECK_SCRIPT)


def check_stdin(secret: Mapping[str, str]) -> str:
    return "".join(f"{secret.get(key, '')}\n" for key in KEYS)


def parse_check(output: str) -> tuple[str, dict[str, str]]:
    """``(user name, {KEY: ok|refused|error})`` from the script's output."""
    user = ""
    results: dict[str, str] = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "user":
            user = value
        elif key in KEYS:
            results[key] = value
    return user, results


def refusal(refused: list[str], user: str, kubectl: Kubectl, namespace: str) -> str:
    """The one line that says which password the database refused, and how to rotate it."""
    client = shlex.join(db_exec(kubectl, "-it", namespace, "mariadb", "--user=root", "--password"))
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


def shown(repo: Path, relative: str) -> str:
    """A path under the repository as the printed commands show it:
    relative when running from the repository root."""
    return relative if repo.resolve() == Path.cwd().resolve() else str(repo / relative)


def ensure_secret_env(runner: Runner, repo: Path) -> Path:
    """k8s/secret.env; when missing, written with the passwords Compose would
    hand the containers. Where Compose is absent (the Vagrant VM), the file
    must come from elsewhere."""
    path = repo / "k8s" / "secret.env"
    secret = shown(repo, "k8s/secret.env")
    if path.exists() and path.stat().st_size > 0:
        runner.note(f"using {secret}")
        return path
    command = k8s_secret.compose_config_command(Path(shown(repo, "compose.yaml")), None)
    try:
        config = runner.output(command)
        runner.act(
            f"write {secret} from its DB_PASSWORD and DB_ROOT_PASSWORD (mode 0600)",
            lambda: k8s_secret.write_secret_env(
                path, k8s_secret.secret_values_from_config(json.loads(config))
            ),
        )
    except (DeployError, OSError) as exc:
        raise DeployError(
            f"{secret} is missing and cannot be written here ({exc}): write it where Docker "
            "Compose runs (`invoke k8s-gen`), or as KEY=VALUE lines (see deploy/k8s_secret.py)"
        ) from exc
    return path


def check(runner: Runner, kubectl: Kubectl, namespace: str, secret_env: Path) -> None:
    """Refuse (DeployError) when the running database refuses a password."""
    ready = kubectl("get", "deployment", "db", "--namespace", namespace, "--ignore-not-found")
    ready_replicas = runner.output([*ready, "--output", "jsonpath={.status.readyReplicas}"])
    if not (ready_replicas.strip().isdigit() and int(ready_replicas) > 0):
        runner.note(f"no ready database in namespace {namespace}: no password to check")
        return
    output = runner.output(
        check_command(kubectl, namespace),
        stdin=check_stdin(read_secret_env(secret_env)),
        stdin_note="DB_PASSWORD and DB_ROOT_PASSWORD from k8s/secret.env",
    )
    user, results = parse_check(output)
    refused = [key for key in KEYS if results.get(key) == "refused"]
    if refused:
        raise DeployError(refusal(refused, user, kubectl, namespace))
    if any(results.get(key) != "ok" for key in KEYS):
        runner.note("the database did not answer the password check: skipped")
