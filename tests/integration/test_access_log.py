"""The access log: one line per request on stdout, written in batches."""

from __future__ import annotations

import time

from api.accesslog import FLUSH_SECONDS
from deploy.api_client import request
from localservers.mariadb import MariaDBServer
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory


def visit_lines(replica: Replica) -> list[str]:
    """Access lines, leaving out the health checks Replica.start() made."""
    lines = replica.log_path.read_text().splitlines()
    return [line for line in lines if '"GET /' in line and "/healthz" not in line]


def test_every_request_gets_one_access_line_soon_after(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "web-1")
    assert request(f"{replica.url}/").status == 200
    assert request(f"{replica.url}/nope").status == 404
    # A few flush intervals, with slack for a busy machine.
    deadline = time.monotonic() + FLUSH_SECONDS * 3 + 5
    while len(visit_lines(replica)) < 2 and time.monotonic() < deadline:
        time.sleep(FLUSH_SECONDS / 2)

    lines = visit_lines(replica)
    assert len(lines) == 2, lines
    # Two worker processes may each have served one: their batches can land
    # in either order.
    assert sum('"GET / HTTP/1.1" 200 ' in line for line in lines) == 1
    assert sum('"GET /nope HTTP/1.1" 404 ' in line for line in lines) == 1


def test_lines_still_buffered_are_written_when_the_worker_stops(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "web-1")
    assert replica.process is not None
    for _ in range(20):
        assert request(f"{replica.url}/healthz").status == 200

    replica.process.terminate()  # at once: the lines may still be buffered
    replica.process.wait(timeout=30)

    healthz = [line for line in replica.log_path.read_text().splitlines() if "/healthz" in line]
    assert len(healthz) >= 20
