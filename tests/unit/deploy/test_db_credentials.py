"""Does the running database accept the passwords? The check script run for
real by sh against a stand-in client, and k8s/secret.env read as kustomize
reads it."""

from __future__ import annotations

import os
from pathlib import Path

from deploy import db_credentials
from tests.utils.run import run


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
        db_credentials.CHECK_SCRIPT,
        input=db_credentials.check_stdin({"DB_PASSWORD": "user-pw", "DB_ROOT_PASSWORD": "nope"}),
        env=env,
    )
    assert db_credentials.parse_check(result.stdout) == (
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
    assert db_credentials.read_secret_env(path) == {
        "DB_PASSWORD": "'quoted' # not a comment",
        "DB_ROOT_PASSWORD": "a=b",
    }
