"""A stopping replica says goodbye to the database instead of vanishing."""

from __future__ import annotations

from deploy.api_client import request
from localservers.mariadb import MariaDBServer
from tests.utils.servers import ReplicaFactory


def aborted_clients(server: MariaDBServer) -> int:
    """Connections MariaDB saw end without a COM_QUIT (each also logs a warning)."""
    name, value = server.sql("SHOW GLOBAL STATUS LIKE 'Aborted_clients'").split()
    assert name == "Aborted_clients"
    return int(value)


def test_sigterm_closes_each_workers_database_connection(
    own_mariadb: MariaDBServer, start_replicas: ReplicaFactory
) -> None:
    own_mariadb.create_database("visits")
    (replica,) = start_replicas(own_mariadb, "visits", "r1")  # two workers
    # Enough visits that both workers hold a connection of their own.
    for _ in range(40):
        assert request(f"{replica.url}/").status == 200
    before = aborted_clients(own_mariadb)

    replica.stop()

    assert aborted_clients(own_mariadb) == before
