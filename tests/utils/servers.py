"""The integration tier's servers: a private MariaDB, and replicas set up the
way every integration test runs them."""

from __future__ import annotations

from collections.abc import Callable

from localservers.mariadb import MariaDBServer
from localservers.replica import Replica, replica_env

# Short enough to keep outage tests quick, long enough for a loaded CI box.
CONNECT_TIMEOUT = 2

# start_replicas(server, database, *names, **extra_env) -> the started replicas
ReplicaFactory = Callable[..., list[Replica]]


def integration_env(server: MariaDBServer, database: str) -> dict[str, str]:
    """A replica's settings for ``database``, with the tier's timeout and two workers."""
    return {
        **replica_env(server, database),
        "DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "WEB_CONCURRENCY": "2",
    }


def start_mariadb() -> MariaDBServer:
    server = MariaDBServer()
    server.initialize()
    return server
