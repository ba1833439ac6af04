"""Fixtures for the integration tier: a real MariaDB and real gunicorn replicas."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.servers import DB_PASSWORD, DB_USER, MariaDBServer, Replica

_database_numbers = itertools.count(1)

# Short enough to keep outage tests quick, long enough for a loaded CI box.
CONNECT_TIMEOUT = 2


def start_mariadb() -> MariaDBServer:
    server = MariaDBServer()
    server.initialize()
    return server


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    server = start_mariadb()
    yield server
    server.destroy()


@pytest.fixture
def database(mariadb: MariaDBServer) -> str:
    """A fresh database per test, so counts never leak between tests."""
    name = f"visits_{next(_database_numbers)}"
    mariadb.create_database(name)
    return name


ReplicaFactory = Callable[..., list[Replica]]


def replica_env(server: MariaDBServer, database: str) -> dict[str, str]:
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(server.port),
        "DB_NAME": database,
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
        "DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "WEB_CONCURRENCY": "2",
    }


@pytest.fixture
def start_replicas() -> Iterator[ReplicaFactory]:
    """Start gunicorn replicas with the given names (and any extra environment,
    as keyword arguments); all stopped afterwards."""
    started: list[Replica] = []

    def start(server: MariaDBServer, database: str, *names: str, **env: str) -> list[Replica]:
        replicas = [Replica(name, {**replica_env(server, database), **env}) for name in names]
        for replica in replicas:
            started.append(replica)
            replica.start()
        return replicas

    yield start
    for replica in started:
        replica.stop()
