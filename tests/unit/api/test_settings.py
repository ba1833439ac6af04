from __future__ import annotations

import socket
from pathlib import Path

import pytest

from api.settings import ServerSettings, Settings, SettingsError


def test_defaults_follow_the_design_table() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        db_servers=(("db", 3306),),
        db_name="visits",
        db_user="visits",
        db_password="",
        db_connect_timeout=3.0,
        replica_name=socket.gethostname(),
    )


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "DB_HOST": "mariadb.internal",
            "DB_PORT": "3307",
            "DB_NAME": "counts",
            "DB_USER": "counter",
            "DB_PASSWORD": "s3cret",
            "DB_CONNECT_TIMEOUT": "1.5",
            "REPLICA_NAME": "pod-abc",
        }
    )
    assert (settings.db_servers, settings.db_name, settings.db_user) == (
        (("mariadb.internal", 3307),),
        "counts",
        "counter",
    )
    assert settings.db_password == "s3cret"
    assert settings.db_connect_timeout == 1.5
    assert settings.replica_name == "pod-abc"


def test_db_host_may_name_the_nodes_of_a_cluster_each_with_a_port() -> None:
    env = {"DB_HOST": "galera-0.galera, galera-1.galera,127.0.0.1:3307", "DB_PORT": "3310"}
    assert Settings.from_env(env).db_servers == (
        ("galera-0.galera", 3310),
        ("galera-1.galera", 3310),
        ("127.0.0.1", 3307),
    )


def test_password_never_appears_in_repr() -> None:
    assert "s3cret" not in repr(Settings.from_env({"DB_PASSWORD": "s3cret"}))


def test_password_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("from-a-file\n")
    assert Settings.from_env({"DB_PASSWORD_FILE": str(secret)}).db_password == "from-a-file"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_PORT": "mysql"}, "DB_PORT must be a port number from 1 to 65535, got 'mysql'"),
        ({"DB_PORT": "70000"}, "DB_PORT must be a port number from 1 to 65535, got '70000'"),
        ({"DB_PORT": "-1"}, "DB_PORT must be a port number"),
        ({"DB_CONNECT_TIMEOUT": "soon"}, "DB_CONNECT_TIMEOUT must be a number of seconds above 0"),
        ({"DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT must be a number of seconds above 0"),
        ({"DB_CONNECT_TIMEOUT": "nan"}, "DB_CONNECT_TIMEOUT must be a number of seconds above 0"),
        ({"DB_HOST": "  "}, "DB_HOST must not be blank"),
        ({"DB_HOST": "db-0,,db-1"}, "DB_HOST must be HOST or HOST:PORT, separated by commas"),
        ({"DB_HOST": "db-0:mysql"}, "DB_HOST must be HOST or HOST:PORT, separated by commas"),
        ({"DB_HOST": "db-0:0"}, "DB_HOST must be HOST or HOST:PORT, separated by commas"),
        ({"DB_HOST": "db-0,db-0:3306"}, "DB_HOST names a server twice: 'db-0,db-0:3306'"),
        (
            {"DB_PASSWORD": "a", "DB_PASSWORD_FILE": "/run/secrets/db"},
            "DB_PASSWORD and DB_PASSWORD_FILE are both set; set only one",
        ),
        (
            {"DB_PASSWORD_FILE": "/nonexistent/db_password"},
            "DB_PASSWORD_FILE '/nonexistent/db_password' cannot be read",
        ),
        ({"REPLICA_NAME": "x" * 254}, "REPLICA_NAME is 254 characters long; the limit is 253"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    text = str(raised.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_server_defaults_scale_with_the_cpu_count() -> None:
    assert ServerSettings.from_env({}, cpu_count=1) == ServerSettings(workers=2)
    assert ServerSettings.from_env({}, cpu_count=4) == ServerSettings(workers=4)


def test_server_settings_from_the_environment() -> None:
    env = {"WEB_CONCURRENCY": "3"}
    assert ServerSettings.from_env(env, cpu_count=2) == ServerSettings(workers=3)


def test_web_threads_is_gone() -> None:
    # Each worker serves on an event loop: there is no thread pool to size.
    assert ServerSettings.from_env({"WEB_THREADS": "16"}, cpu_count=2) == ServerSettings(workers=2)


@pytest.mark.parametrize("name", ["WEB_CONCURRENCY"])
@pytest.mark.parametrize("value", ["0", "many", "2.5"])
def test_bad_server_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name} must be a whole number of at least 1"):
        ServerSettings.from_env({name: value})


def test_log_format_is_text_unless_json_is_asked() -> None:
    assert ServerSettings.from_env({}, cpu_count=2).log_format == "text"
    assert ServerSettings.from_env({"LOG_FORMAT": "JSON"}, cpu_count=2).log_format == "json"


def test_a_bad_log_format_is_one_line_naming_the_variable() -> None:
    with pytest.raises(SettingsError) as bad:
        ServerSettings.from_env({"LOG_FORMAT": "yaml"})
    assert str(bad.value) == "LOG_FORMAT must be one of text, json, got 'yaml'"
