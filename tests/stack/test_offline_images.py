"""The offline base-image stand-ins keep the official images' contracts.

ci/build-offline-images.sh builds ``mariadb:11.8`` and ``python:3.13-slim``
locally when no registry is reachable. The stack tier runs the project's
``compose.yaml`` and ``Dockerfile`` on them unchanged, so these tests pin the
parts of the official contracts those files rely on: secrets from ``_FILE``
variables, init only on an empty data dir, ``/docker-entrypoint-initdb.d``,
``healthcheck.sh --connect --innodb_initialized``, a clean SIGTERM shutdown,
and a Python 3.13 with a working ``venv``.

Real Docker, no mocks. Every container, volume and network has a unique name
and is removed afterwards. The tests run against whatever images carry those
tags, so they hold for the official images too.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.utils.run import Completed, run
from tests.utils.tools import missing, require_tool

MARIADB_IMAGE = "mariadb:11.8"
PYTHON_IMAGE = "python:3.13-slim"
HEALTHCHECK = "healthcheck.sh --connect --innodb_initialized"
BUILD_HINT = "run: bash ci/install-docker.sh && bash ci/build-offline-images.sh"

# Passwords with every character that breaks naive quoting (SQL, option files,
# shells). Secret files end with a newline, as `echo pw > file` writes them.
ROOT_PASSWORD = "r00t 'pw' \"q\" \\ $HOME `x`"
USER_PASSWORD = "v1sits; DROP \"it\" 'now' \\n"
# Plain ones for the restart test, where the first start's must win.
FIRST_ROOT_PASSWORD = "first-root"
SECOND_ROOT_PASSWORD = "second-root"
APP_PASSWORD = "first-app"
WRONG_PASSWORD = "wrong"


@dataclass
class Docker:
    """A thin runner for the docker CLI, tracking what it creates."""

    path: str
    prefix: str = field(default_factory=lambda: f"vc-offline-{uuid.uuid4().hex[:10]}")
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> Completed:
        return run(self.path, *args, check=check, timeout=timeout)

    def name(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-{uuid.uuid4().hex[:6]}"

    def volume(self) -> str:
        name = self.name("data")
        self.volumes.append(name)
        self.run("volume", "create", name)
        return name

    def network(self) -> str:
        name = self.name("net")
        self.networks.append(name)
        self.run("network", "create", name)
        return name

    def start(self, image: str, *options: str, command: tuple[str, ...] = ()) -> str:
        """`docker run -d` a container that the clean-up removes."""
        name = self.name("db")
        self.containers.append(name)
        self.run("run", "-d", "--name", name, *options, image, *command)
        return name

    def logs(self, container: str) -> str:
        result = self.run("logs", container, check=False)
        return result.stdout + result.stderr

    def inspect(self, container: str) -> dict[str, object]:
        data: list[dict[str, object]] = json.loads(self.run("inspect", container).stdout)
        return data[0]

    def cleanup(self) -> None:
        for container in reversed(self.containers):
            self.run("rm", "-f", "-v", container, check=False)
        for volume in self.volumes:
            self.run("volume", "rm", "-f", volume, check=False)
        for network in self.networks:
            self.run("network", "rm", network, check=False)


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    path = require_tool("docker", BUILD_HINT)
    runner = Docker(path)
    if runner.run("info", check=False, timeout=30).returncode != 0:
        missing(f"no Docker Engine answers 'docker info' ({BUILD_HINT})")
    for image in (MARIADB_IMAGE, PYTHON_IMAGE):
        if runner.run("image", "inspect", image, check=False).returncode != 0:
            missing(f"image {image} is not present ({BUILD_HINT})")
    try:
        yield runner
    finally:
        runner.cleanup()


def wait_healthy(docker: Docker, container: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        state = docker.inspect(container)["State"]
        assert isinstance(state, dict)
        if not state.get("Running"):
            raise AssertionError(f"{container} stopped:\n{docker.logs(container)[-3000:]}")
        status = state.get("Health", {}).get("Status", "none")
        if status == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(
        f"{container} not healthy after {timeout}s ({status}):\n{docker.logs(container)[-3000:]}"
    )


def sql(
    docker: Docker, container: str, statement: str, *, user: str, password: str, database: str = ""
) -> Completed:
    """Run SQL inside the container over TCP (as a client on the network would)."""
    args = [
        "exec",
        "-e",
        f"MYSQL_PWD={password}",
        container,
        "mariadb",
        "--protocol=tcp",
        "-h127.0.0.1",
        f"-u{user}",
        "--batch",
        "--skip-column-names",
        "-e",
        statement,
    ]
    if database:
        args.append(database)
    return docker.run(*args, check=False)


def app_sql(docker: Docker, database: Database, statement: str) -> Completed:
    """SQL as the application's user, in its own database, with the password
    the secret files gave it."""
    return sql(
        docker,
        database.container,
        statement,
        user="visits",
        password=USER_PASSWORD,
        database="visits",
    )


def secret_dir(tmp: Path, **secrets: str) -> Path:
    """Files as Docker/compose secrets arrive: root's, mode 0600."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name, value in secrets.items():
        path = tmp / name
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)
    tmp.chmod(0o755)
    return tmp


@dataclass
class Database:
    container: str
    volume: str
    network: str
    secrets: Path
    initdb: Path


def healthcheck_options() -> list[str]:
    return [
        "--health-cmd",
        HEALTHCHECK,
        "--health-interval",
        "1s",
        "--health-timeout",
        "5s",
        "--health-retries",
        "60",
    ]


@pytest.fixture(scope="module")
def database(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """A first start like the compose stack's: secrets via _FILE, a named volume."""
    base = tmp_path_factory.mktemp("offline-mariadb")
    secrets = secret_dir(base / "secrets", root=ROOT_PASSWORD, db=USER_PASSWORD)
    initdb = base / "initdb"
    initdb.mkdir()
    (initdb / "10-schema.sql").write_text(
        "CREATE TABLE seen (step VARCHAR(20) PRIMARY KEY);\nINSERT INTO seen VALUES ('sql');\n"
    )
    (initdb / "20-data.sql.gz").write_bytes(gzip.compress(b"INSERT INTO seen VALUES ('sql.gz');\n"))
    # Sourced (not executable): runs inside the entrypoint with its helpers.
    (initdb / "30-sourced.sh").write_text(
        "echo \"INSERT INTO seen VALUES ('sourced-sh');\" | docker_process_sql\n"
    )
    # Executable: run as a program, sees the resolved variables.
    script = initdb / "40-program.sh"
    script.write_text(
        "#!/bin/sh\nset -e\n"
        'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot "$MARIADB_DATABASE" '
        "-e \"INSERT INTO seen VALUES ('program-sh')\"\n"
    )
    script.chmod(0o755)
    (initdb / "50-ignored.txt").write_text("not SQL\n")
    for path in (initdb, *initdb.iterdir()):
        path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))

    volume = docker.volume()
    network = docker.network()
    container = docker.start(
        MARIADB_IMAGE,
        "--network",
        network,
        "-v",
        f"{volume}:/var/lib/mysql",
        "-v",
        f"{secrets}:/run/secrets:ro",
        "-v",
        f"{initdb}:/docker-entrypoint-initdb.d:ro",
        "-e",
        "MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root",
        "-e",
        "MARIADB_DATABASE=visits",
        "-e",
        "MARIADB_USER=visits",
        "-e",
        "MARIADB_PASSWORD_FILE=/run/secrets/db",
        *healthcheck_options(),
    )
    wait_healthy(docker, container)
    return Database(container, volume, network, secrets, initdb)


def test_user_from_password_file_reaches_its_database(docker: Docker, database: Database) -> None:
    result = app_sql(docker, database, "SELECT CURRENT_USER(), DATABASE()")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["visits@%", "visits"]


def test_user_is_confined_to_its_database(docker: Docker, database: Database) -> None:
    result = sql(
        docker, database.container, "CREATE DATABASE other", user="visits", password=USER_PASSWORD
    )
    assert result.returncode != 0
    assert "denied" in result.stderr


def test_wrong_password_is_refused(docker: Docker, database: Database) -> None:
    result = sql(docker, database.container, "SELECT 1", user="visits", password=WRONG_PASSWORD)
    assert result.returncode != 0
    assert "Access denied" in result.stderr


def test_root_password_file_sets_root(docker: Docker, database: Database) -> None:
    result = sql(
        docker, database.container, "SELECT CURRENT_USER()", user="root", password=ROOT_PASSWORD
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "root@%"


def test_server_listens_on_the_container_network(docker: Docker, database: Database) -> None:
    result = docker.run(
        "run",
        "--rm",
        "--network",
        database.network,
        "-e",
        f"MYSQL_PWD={USER_PASSWORD}",
        MARIADB_IMAGE,
        "mariadb",
        f"-h{database.container}",
        "-uvisits",
        "--batch",
        "--skip-column-names",
        "-e",
        "SELECT DATABASE()",
        "visits",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "visits"


def test_initdb_files_run_in_order_and_others_are_ignored(
    docker: Docker, database: Database
) -> None:
    result = app_sql(docker, database, "SELECT step FROM seen ORDER BY step")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == ["program-sh", "sourced-sh", "sql", "sql.gz"]
    assert "50-ignored.txt" in docker.logs(database.container)


def test_healthcheck_uses_its_own_user_and_credentials_file(
    docker: Docker, database: Database
) -> None:
    assert docker.run("exec", database.container, *HEALTHCHECK.split()).returncode == 0
    stat = docker.run(
        "exec", database.container, "stat", "-c", "%U %a", "/var/lib/mysql/.my-healthcheck.cnf"
    ).stdout.split()
    assert stat == ["mysql", "600"]
    grants = sql(
        docker,
        database.container,
        "SHOW GRANTS FOR healthcheck@localhost",
        user="root",
        password=ROOT_PASSWORD,
    )
    assert grants.returncode == 0, grants.stderr
    assert "GRANT USAGE ON *.*" in grants.stdout
    assert "ALL PRIVILEGES" not in grants.stdout


def test_server_is_pid_1_as_mysql(docker: Docker, database: Database) -> None:
    status = docker.run("exec", database.container, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["Name"].strip() == "mariadbd"
    uid = docker.run("exec", database.container, "id", "-u", "mysql").stdout.strip()
    assert fields["Uid"].split()[0] == uid


def test_logs_never_show_a_password(docker: Docker, database: Database) -> None:
    logs = docker.logs(database.container)
    assert ROOT_PASSWORD not in logs
    assert USER_PASSWORD not in logs
    cnf = docker.run("exec", database.container, "cat", "/var/lib/mysql/.my-healthcheck.cnf").stdout
    health_password = next(
        line.split("=", 1)[1].strip().strip('"')
        for line in cnf.splitlines()
        if line.startswith("password")
    )
    assert health_password
    assert health_password not in logs


def test_restart_on_the_volume_keeps_data_and_skips_init(docker: Docker, tmp_path: Path) -> None:
    # Its own data: the shared database stays as the other tests expect it.
    volume = docker.volume()
    initdb = tmp_path / "initdb"
    initdb.mkdir()
    (initdb / "once.sql").write_text("CREATE TABLE runs (n INT);\nINSERT INTO runs VALUES (1);\n")
    initdb.chmod(0o755)
    (initdb / "once.sql").chmod(0o644)
    mount = ["-v", f"{volume}:/var/lib/mysql", "-v", f"{initdb}:/docker-entrypoint-initdb.d:ro"]

    # The MYSQL_* aliases work as the MARIADB_* names.
    first = docker.start(
        MARIADB_IMAGE,
        *mount,
        *healthcheck_options(),
        "-e",
        f"MYSQL_ROOT_PASSWORD={FIRST_ROOT_PASSWORD}",
        "-e",
        "MYSQL_DATABASE=app",
        "-e",
        "MYSQL_USER=app",
        "-e",
        f"MYSQL_PASSWORD={APP_PASSWORD}",
    )
    wait_healthy(docker, first)
    assert (
        sql(
            docker,
            first,
            "INSERT INTO runs VALUES (2)",
            user="app",
            password=APP_PASSWORD,
            database="app",
        ).returncode
        == 0
    )

    # SIGTERM to PID 1: mariadbd shuts down cleanly and exits 0.
    docker.run("stop", "-t", "60", first)
    state = docker.inspect(first)["State"]
    assert isinstance(state, dict)
    assert state["ExitCode"] == 0
    assert "Shutdown complete" in docker.logs(first)

    # Different settings on an initialised volume are ignored, as documented.
    second = docker.start(
        MARIADB_IMAGE,
        *mount,
        *healthcheck_options(),
        "-e",
        f"MARIADB_ROOT_PASSWORD={SECOND_ROOT_PASSWORD}",
        "-e",
        "MARIADB_DATABASE=other",
    )
    wait_healthy(docker, second)
    rows = sql(
        docker,
        second,
        "SELECT n FROM runs ORDER BY n",
        user="app",
        password=APP_PASSWORD,
        database="app",
    )
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.split() == ["1", "2"]  # once.sql did not run again
    assert (
        sql(docker, second, "SELECT 1", user="root", password=FIRST_ROOT_PASSWORD).returncode == 0
    )
    assert (
        sql(docker, second, "SELECT 1", user="root", password=SECOND_ROOT_PASSWORD).returncode != 0
    )
    assert "initdb.d/once.sql" not in docker.logs(second)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        pytest.param({}, "MARIADB_ROOT_PASSWORD", id="no-root-password-option"),
        pytest.param(
            {"MARIADB_ROOT_PASSWORD": "x", "MARIADB_ROOT_PASSWORD_FILE": "/etc/hostname"},
            "MARIADB_ROOT_PASSWORD_FILE",
            id="variable-and-file",
        ),
        pytest.param(
            {"MARIADB_ROOT_PASSWORD_FILE": "/run/secrets/absent"},
            "/run/secrets/absent",
            id="missing-file",
        ),
    ],
)
def test_bad_settings_stop_the_first_start_with_a_reason(
    docker: Docker, environment: dict[str, str], message: str
) -> None:
    env_args = [arg for key, value in environment.items() for arg in ("-e", f"{key}={value}")]
    result = docker.run("run", "--rm", *env_args, MARIADB_IMAGE, check=False, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr


def test_python_image_is_313_with_a_working_venv(docker: Docker) -> None:
    script = (
        "set -e; python --version; python3 --version; pip --version; "
        "python -m venv /tmp/venv; /tmp/venv/bin/pip --version; "
        "/tmp/venv/bin/python -c 'import sys; print(sys.prefix, sys.prefix != sys.base_prefix)'; "
        # pip as root outside a venv is allowed, as in the official image.
        "python -c 'import os, sysconfig; "
        'print(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))\''
    )
    result = docker.run("run", "--rm", PYTHON_IMAGE, "sh", "-c", script, check=False)
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
    config = docker.run("image", "inspect", "--format", "{{json .Config.Cmd}}", PYTHON_IMAGE).stdout
    assert json.loads(config)[0] in {"python3", "python"}


def test_healthcheck_fails_without_a_server(docker: Docker) -> None:
    result = docker.run(
        "run",
        "--rm",
        "--entrypoint",
        "healthcheck.sh",
        MARIADB_IMAGE,
        "--connect",
        "--innodb_initialized",
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
