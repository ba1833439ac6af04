"""Fixtures for the integration tier: a real MariaDB and real gunicorn replicas."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from localservers.mariadb import MariaDBServer
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory, integration_env, start_mariadb

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    server = start_mariadb()
    yield server
    server.destroy()


@pytest.fixture
def own_mariadb() -> Iterator[MariaDBServer]:
    """A server of this test's own, free to be stopped and frozen."""
    server = start_mariadb()
    yield server
    server.destroy()


@pytest.fixture
def database(mariadb: MariaDBServer) -> str:
    """A fresh database per test, so counts never leak between tests."""
    name = f"visits_{next(_database_numbers)}"
    mariadb.create_database(name)
    return name


@pytest.fixture
def start_replicas() -> Iterator[ReplicaFactory]:
    """Start gunicorn replicas with the given names (and any extra environment,
    as keyword arguments); all stopped afterwards."""
    started: list[Replica] = []

    def start(server: MariaDBServer, database: str, *names: str, **env: str) -> list[Replica]:
        replicas = [Replica(name, {**integration_env(server, database), **env}) for name in names]
        for replica in replicas:
            started.append(replica)
            replica.start()
        return replicas

    yield start
    for replica in started:
        replica.stop()
