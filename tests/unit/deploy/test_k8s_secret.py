"""The Secret's values, read from what `docker compose config --format json`
prints (here written by hand: the real command runs in the manifests tier);
does the running database accept them? The check script run for real by sh
against a stand-in client, and k8s/secret.env read as kustomize reads it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from deploy import k8s_secret
from deploy.commands import DeployError
from deploy.k8s_secret import (
    compose_config_command,
    render_secret_env,
    secret_values,
)
from tests.utils.run import run


def config(api_password: str, db_password: str, root_password: str) -> dict[str, object]:
    """The parts of a resolved compose.yaml the Secret comes from."""
    api = {"environment": {"DB_HOST": "db", "DB_PASSWORD": api_password}}
    db = {"environment": {"MARIADB_PASSWORD": db_password, "MARIADB_ROOT_PASSWORD": root_password}}
    resolved: dict[str, object] = json.loads(json.dumps({"services": {"api": api, "db": db}}))
    return resolved


def test_each_key_comes_from_its_variables_with_dollars_unescaped() -> None:
    # Compose prints a `$` of a resolved value as `$$`: the container gets one.
    values = secret_values(config("pa$$word", "pa$$word", "a$$$$b"))
    assert values == {"DB_PASSWORD": "pa$word", "DB_ROOT_PASSWORD": "a$$b"}
    assert render_secret_env(values) == "DB_PASSWORD=pa$word\nDB_ROOT_PASSWORD=a$$b\n"


def test_api_and_database_must_get_the_same_password() -> None:
    with pytest.raises(DeployError, match="MARIADB_PASSWORD another value than DB_PASSWORD"):
        secret_values(config("one", "two", "root"))


def test_a_variable_compose_yaml_no_longer_sets_is_named() -> None:
    resolved = config("pw", "pw", "root")
    services = resolved["services"]
    assert isinstance(services, dict)
    del services["db"]["environment"]["MARIADB_ROOT_PASSWORD"]
    with pytest.raises(DeployError, match="db service sets no MARIADB_ROOT_PASSWORD"):
        secret_values(resolved)


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("", "DB_PASSWORD is empty"),
        (" pw", "leading/trailing white space"),
        ("pw\n", "newline"),
    ],
)
def test_a_password_secret_env_cannot_carry_is_refused(password: str, complaint: str) -> None:
    with pytest.raises(DeployError, match=re.escape(complaint)):
        secret_values(config(password, password, "root"))


def test_the_command_names_the_env_file_only_when_given() -> None:
    compose = Path("/repo/compose.yaml")
    assert compose_config_command(compose, None) == [
        "docker",
        "compose",
        "--file",
        "/repo/compose.yaml",
        "config",
        "--format",
        "json",
    ]
    assert "--env-file" in compose_config_command(compose, Path("/repo/prod.env"))


def test_the_credential_check_reads_the_passwords_from_stdin_only(tmp_path: Path) -> None:
    calls = tmp_path / "argv"
    client = tmp_path / "mariadb"
    client.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'case "$*" in *--user=root*) want=root-pw;; *) want=user-pw;; esac\n'
        '[ "$MYSQL_PWD" = "$want" ] && exit 0\n'
        'echo "ERROR 1045 (28000): Access denied" >&2; exit 1\n'
    )
    client.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "MARIADB_USER": "visits"}
    result = run(
        "sh",
        "-c",
        k8s_secret.CHECK_SCRIPT,
        input=k8s_secret.check_stdin({"DB_PASSWORD": "user-pw", "DB_ROOT_PASSWORD": "nope"}),
        env=env,
    )
    assert k8s_secret.parse_check(result.stdout) == (
        "visits",
        {"DB_PASSWORD": "ok", "DB_ROOT_PASSWORD": "refused"},
    )
    argv = calls.read_text()
    assert "--user=visits" in argv
    assert "user-pw" not in argv
    assert "nope" not in argv


def test_secret_env_values_are_read_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "secret.env"
    path.write_text("# comment\n\nDB_PASSWORD='quoted' # not a comment\nDB_ROOT_PASSWORD=a=b\n")
    assert k8s_secret.read_secret_env(path) == {
        "DB_PASSWORD": "'quoted' # not a comment",
        "DB_ROOT_PASSWORD": "a=b",
    }
