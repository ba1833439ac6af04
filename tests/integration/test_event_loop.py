"""The store on the event loop: a batch that times out fails the visits queued
behind it at once, readiness never queues behind a batch, and a connection the
server closed is replaced before a visit is spent on it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from deploy.api_client import Answer, request
from localservers.mariadb import MariaDBServer
from tests.utils.servers import CONNECT_TIMEOUT, ReplicaFactory, integration_env
from tests.utils.visits import assert_unavailable, visit_all_threads

# One timeout, plus scheduling noise; a visit that waited for a second
# timeout of its own (the batch before it, then its own) would take twice.
ONE_TIMEOUT = CONNECT_TIMEOUT + 1.2


def test_visits_queued_behind_a_timing_out_batch_fail_with_it(
    own_mariadb: MariaDBServer, start_replicas: ReplicaFactory
) -> None:
    own_mariadb.create_database("visits")
    (replica,) = start_replicas(own_mariadb, "visits", "r1")
    visit_all_threads([replica])  # every worker holds a live connection

    own_mariadb.pause()
    try:
        first: list[Answer] = []
        ahead = threading.Thread(target=lambda: first.append(request(f"{replica.url}/")))
        ahead.start()
        threading.Event().wait(0.5)  # the first batch of each worker is in flight
        with ThreadPoolExecutor(max_workers=16) as pool:
            queued = list(pool.map(lambda _: request(f"{replica.url}/"), range(16)))
        ahead.join(timeout=10)
    finally:
        own_mariadb.resume()

    for answer in [*first, *queued]:
        assert_unavailable(answer)
    slowest = max(answer.seconds for answer in queued)
    assert slowest < ONE_TIMEOUT, f"a queued visit waited {slowest:.1f}s: two timeouts"

    # The next visit tries afresh and succeeds.
    assert request(f"{replica.url}/").status == 200


def test_readiness_does_not_queue_behind_a_long_batch(
    own_mariadb: MariaDBServer, start_replicas: ReplicaFactory
) -> None:
    own_mariadb.create_database("visits")
    (replica,) = start_replicas(own_mariadb, "visits", "r1")
    assert request(f"{replica.url}/").status == 200

    # Another client holds the replica's row lock: the next visit's INSERT
    # waits on it until the read timeout ends the batch.
    with own_mariadb.connect("visits") as locker, locker.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT count FROM visits WHERE replica = 'r1' FOR UPDATE")
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                visits = [pool.submit(request, f"{replica.url}/") for _ in range(8)]
                threading.Event().wait(0.5)  # the visits' batches are in flight
                ready = request(f"{replica.url}/readyz")
                assert ready.status == 200, ready.body
                assert ready.seconds < 1, "readiness queued behind the visits' batch"
                for visit in visits:
                    assert visit.result().status == 503
        finally:
            cursor.execute("ROLLBACK")


def test_a_connection_the_server_closed_is_replaced_before_use(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "r1")
    visit_all_threads([replica])  # every worker holds a live connection

    # The server drops them (an idle timeout, a restart, an operator's KILL).
    with mariadb.connect() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (database,))
        ids = [row[0] for row in cursor.fetchall()]
        assert ids, "the workers hold no connection"
        for connection_id in ids:
            cursor.execute("KILL CONNECTION %s", (connection_id,))
    threading.Event().wait(0.5)  # the close reaches the workers' sockets

    after = visit_all_threads([replica], per_replica=20)
    assert [a.status for a in after] == [200] * len(after)


def test_each_worker_uses_one_connection_under_load(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "r1")
    workers = int(integration_env(mariadb, database)["WEB_CONCURRENCY"])

    before = connections_opened(mariadb)
    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(lambda _: request(f"{replica.url}/"), range(600)))
    opened = connections_opened(mariadb) - before - 1  # less the counting one

    assert [a.status for a in answers] == [200] * len(answers)
    assert opened <= workers, f"{opened} connections for {workers} workers"


def connections_opened(server: MariaDBServer) -> int:
    """Connections the server has accepted so far (this one included)."""
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        (_, value) = cursor.fetchone()
        return int(value)
