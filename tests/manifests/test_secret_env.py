"""k8s/secret.env holds the passwords exactly as Compose hands them to the
containers: `docker compose config` resolves .env, quoting and `$` included."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from deploy.k8s_secret import SECRET_KEYS
from tests.utils.manifests import copy_compose
from tests.utils.run import run
from tests.utils.tools import require_tool

# What `docker compose run --entrypoint env` shows in the api and db
# containers for this .env (Compose 2.26): unquoted, `$$` is one `$` and an
# unset `$x` is empty; single-quoted, every `$` stays.
DOLLAR_ENV = "DB_PASSWORD=pa$$word$x\nDB_ROOT_PASSWORD='li$teral $$'\n"
DOLLAR_SECRET_ENV = "DB_PASSWORD=pa$word\nDB_ROOT_PASSWORD=li$teral $$\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require_tool("docker", "Debian: apt-get install docker.io, and Compose v2's plugin")
    copy_compose(tmp_path)
    return tmp_path


def write_secret_env(repo: Path, *extra: str) -> tuple[int, str, Path]:
    output = repo / "k8s" / "secret.env"
    # The shell's variables win over .env in Compose: none here.
    # -S: no site-packages. Standard library only, as inside the Vagrant VM.
    result = run(
        sys.executable, "-S", "-m", "deploy.k8s_secret", "--repo", repo, *extra,
        check=False, unset=SECRET_KEYS, timeout=120,
    )  # fmt: skip
    return result.returncode, result.stderr, output


def test_a_dollar_in_env_reaches_secret_env_as_compose_hands_it_over(repo: Path) -> None:
    (repo / ".env").write_text(DOLLAR_ENV)
    status, stderr, output = write_secret_env(repo)
    assert status == 0, stderr
    assert output.read_text() == DOLLAR_SECRET_ENV
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


def test_an_explicit_env_file_is_read_instead_of_dot_env(repo: Path) -> None:
    (repo / ".env").write_text("DB_PASSWORD=from-dot-env\nDB_ROOT_PASSWORD=root-dot-env\n")
    (repo / "prod.env").write_text(DOLLAR_ENV)
    status, stderr, output = write_secret_env(repo, "--env-file", str(repo / "prod.env"))
    assert status == 0, stderr
    assert output.read_text() == DOLLAR_SECRET_ENV


def test_a_password_secret_env_cannot_hold_is_refused_in_one_line(repo: Path) -> None:
    (repo / ".env").write_text("DB_PASSWORD=' padded'\nDB_ROOT_PASSWORD=x\n")
    status, stderr, output = write_secret_env(repo)
    assert status == 1
    assert stderr.strip().splitlines() == [
        "k8s-secret: DB_PASSWORD has a newline or leading/trailing white space, "
        "which a KEY=VALUE secret file cannot hold"
    ]
    assert not output.exists()
