"""The mariadb:11.8 stand-in (ci/offline-images/mariadb/) keeps the official
image's contract as compose.yaml uses it: secrets from ``_FILE`` variables
(and the ``MYSQL_*`` aliases), init only on an empty data dir,
``/docker-entrypoint-initdb.d``, ``healthcheck.sh --connect
--innodb_initialized``, a clean SIGTERM shutdown, one clear reason for bad
settings."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.utils.docker import Docker, env
from tests.utils.run import Completed

IMAGE = "mariadb:11.8"
HEALTHCHECK = "healthcheck.sh --connect --innodb_initialized"
# Checked every second, for up to a minute: a first start initialises the data dir.
HEALTH_OPTIONS = (
    "--health-cmd", HEALTHCHECK, "--health-interval", "1s",
    "--health-timeout", "5s", "--health-retries", "60",
)  # fmt: skip

# Passwords with every character that breaks naive quoting (SQL, option files,
# shells). Secret files end with a newline, as `echo pw > file` writes them.
ROOT_PASSWORD = "r00t 'pw' \"q\" \\ $HOME `x`"
USER_PASSWORD = "v1sits; DROP \"it\" 'now' \\n"
# Plain ones for the restart test, where the first start's must win.
FIRST_ROOT_PASSWORD = "first-root"
SECOND_ROOT_PASSWORD = "second-root"
APP_PASSWORD = "first-app"
WRONG_PASSWORD = "wrong"


def sql(
    docker: Docker, container: str, statement: str, *, user: str, password: str, database: str = ""
) -> Completed:
    """Run SQL inside the container over TCP (as a client on the network would)."""
    client = [
        "mariadb",
        "--protocol=tcp",
        "-h127.0.0.1",
        f"-u{user}",
        "--batch",
        "--skip-column-names",
    ]
    args = ["exec", *env({"MYSQL_PWD": password}), container, *client, "-e", statement]
    return docker.run(*args, *([database] if database else []), check=False)


def app_sql(docker: Docker, database: Database, statement: str) -> Completed:
    """SQL as the application's user, in its own database, with the password
    the secret files gave it."""
    return sql(
        docker, database.container, statement,
        user="visits", password=USER_PASSWORD, database="visits",
    )  # fmt: skip


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
        IMAGE,
        "--network", network,
        "-v", f"{volume}:/var/lib/mysql",
        "-v", f"{secrets}:/run/secrets:ro",
        "-v", f"{initdb}:/docker-entrypoint-initdb.d:ro",
        *env(
            {
                "MARIADB_ROOT_PASSWORD_FILE": "/run/secrets/root",
                "MARIADB_DATABASE": "visits",
                "MARIADB_USER": "visits",
                "MARIADB_PASSWORD_FILE": "/run/secrets/db",
            }
        ),
        *HEALTH_OPTIONS,
    )  # fmt: skip
    docker.wait_healthy(container)
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
    client = ["mariadb", f"-h{database.container}", "-uvisits", "--batch", "--skip-column-names"]
    result = docker.run(
        "run", "--rm", "--network", database.network, *env({"MYSQL_PWD": USER_PASSWORD}),
        IMAGE, *client, "-e", "SELECT DATABASE()", "visits",
        check=False,
    )  # fmt: skip
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
    aliases = env(
        {
            "MYSQL_ROOT_PASSWORD": FIRST_ROOT_PASSWORD,
            "MYSQL_DATABASE": "app",
            "MYSQL_USER": "app",
            "MYSQL_PASSWORD": APP_PASSWORD,
        }
    )
    first = docker.start(IMAGE, *mount, *HEALTH_OPTIONS, *aliases)
    docker.wait_healthy(first)
    as_app = {"user": "app", "password": APP_PASSWORD, "database": "app"}
    assert sql(docker, first, "INSERT INTO runs VALUES (2)", **as_app).returncode == 0

    # SIGTERM to PID 1: mariadbd shuts down cleanly and exits 0.
    docker.run("stop", "-t", "60", first)
    assert docker.state(first)["ExitCode"] == 0
    assert "Shutdown complete" in docker.logs(first)

    # Different settings on an initialised volume are ignored, as documented.
    changed = env({"MARIADB_ROOT_PASSWORD": SECOND_ROOT_PASSWORD, "MARIADB_DATABASE": "other"})
    second = docker.start(IMAGE, *mount, *HEALTH_OPTIONS, *changed)
    docker.wait_healthy(second)
    rows = sql(docker, second, "SELECT n FROM runs ORDER BY n", **as_app)
    assert rows.returncode == 0, rows.stderr
    assert rows.stdout.split() == ["1", "2"]  # once.sql did not run again
    as_root = sql(docker, second, "SELECT 1", user="root", password=FIRST_ROOT_PASSWORD)
    assert as_root.returncode == 0
    as_new_root = sql(docker, second, "SELECT 1", user="root", password=SECOND_ROOT_PASSWORD)
    assert as_new_root.returncode != 0
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
    result = docker.run("run", "--rm", *env(environment), IMAGE, check=False, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr


def test_healthcheck_fails_without_a_server(docker: Docker) -> None:
    program, *options = HEALTHCHECK.split()
    result = docker.run(
        "run", "--rm", "--entrypoint", program, IMAGE, *options, check=False, timeout=60
    )
    assert result.returncode != 0
