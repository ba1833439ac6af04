"""Configuration from the environment (12-factor).

Every bad value raises :class:`SettingsError` whose message is one line naming
the variable, so start-up can stop with exactly that line.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from api.logformat import FORMATS

# A Kubernetes object name can be at most 253 characters; the column matches.
MAX_REPLICA_NAME_LENGTH = 253


class SettingsError(ValueError):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    # (host, port) of each database server, in the order of preference: one
    # server, or the nodes of a Galera cluster (see api/store.py).
    db_servers: tuple[tuple[str, int], ...] = (("db", 3306),)
    db_name: str = "visits"
    db_user: str = "visits"
    # repr=False: a password must never reach a log line through a repr().
    db_password: str = field(default="", repr=False)
    db_connect_timeout: float = 3.0
    replica_name: str = field(default_factory=socket.gethostname)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            db_servers=_servers(env),
            db_name=_non_empty(env, "DB_NAME", "visits"),
            db_user=_non_empty(env, "DB_USER", "visits"),
            db_password=_password(env),
            db_connect_timeout=_positive_seconds(env, "DB_CONNECT_TIMEOUT", 3.0),
            replica_name=_replica_name(env),
        )


@dataclass(frozen=True)
class ServerSettings:
    """gunicorn's process model (worker processes, each serving on one event
    loop) and the format of every log line."""

    workers: int
    log_format: str = "text"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, cpu_count: int | None = None
    ) -> ServerSettings:
        env = os.environ if env is None else env
        cpus = cpu_count or os.cpu_count() or 1
        # An event loop carries each process's concurrency; one process per
        # core (at least two, so one can restart while the other serves) uses
        # the CPUs. WEB_THREADS, from the thread-per-request server, is gone.
        return cls(
            workers=_positive_int(env, "WEB_CONCURRENCY", max(2, cpus)),
            log_format=_choice(env, "LOG_FORMAT", FORMATS),
        )


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first is the default), case-insensitive."""
    value = (_raw(env, name) or choices[0]).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {env[name]!r}")
    return value


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value, treating an empty string as unset."""
    value = env.get(name)
    return value if value else None


def _non_empty(env: Mapping[str, str], name: str, default: str) -> str:
    value = _raw(env, name)
    if value is None:
        return default
    if not value.strip():
        raise SettingsError(f"{name} must not be blank")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    if not value.strip().isdigit() or not 1 <= int(value) <= 65535:
        raise SettingsError(f"{name} must be a port number from 1 to 65535, got {value!r}")
    return int(value)


def _servers(env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    """DB_HOST: one host, or several separated by commas, each optionally with
    its own ``:port`` (DB_PORT otherwise)."""
    default_port = _port(env, "DB_PORT", 3306)
    value = _non_empty(env, "DB_HOST", "db")
    servers = []
    for entry in value.split(","):
        host, port = entry.strip(), str(default_port)
        if ":" in host:
            host, port = host.rsplit(":", 1)
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise SettingsError(
                f"DB_HOST must be HOST or HOST:PORT, separated by commas, got {value!r}"
            )
        servers.append((host, int(port)))
    if len(set(servers)) != len(servers):
        raise SettingsError(f"DB_HOST names a server twice: {value!r}")
    return tuple(servers)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _raw(env, name)
    if value is None:
        return default
    if not value.strip().isdigit() or int(value) < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = _raw(env, name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    # Upper bound: PyMySQL refuses a connect timeout over one year.
    if not 0 < seconds <= 31_536_000:
        raise SettingsError(f"{name} must be a number of seconds above 0, got {value!r}")
    return seconds


def _password(env: Mapping[str, str]) -> str:
    password = env.get("DB_PASSWORD")
    path = _raw(env, "DB_PASSWORD_FILE")
    if password and path:
        raise SettingsError("DB_PASSWORD and DB_PASSWORD_FILE are both set; set only one")
    if path is None:
        return password or ""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"DB_PASSWORD_FILE {path!r} cannot be read: {exc.strerror}") from None
    # Secret files usually end with a newline that is not part of the password.
    return text.rstrip("\r\n")


def _replica_name(env: Mapping[str, str]) -> str:
    name = _raw(env, "REPLICA_NAME") or socket.gethostname()
    if len(name) > MAX_REPLICA_NAME_LENGTH:
        raise SettingsError(
            f"REPLICA_NAME is {len(name)} characters long; the limit is {MAX_REPLICA_NAME_LENGTH}"
        )
    return name
