"""Database outages: down, hung, late. The replicas stay up and recover alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from deploy.api_client import Answer, request
from localservers.mariadb import MariaDBServer
from tests.utils.servers import ReplicaFactory
from tests.utils.visits import FAST_503_SECONDS, assert_unavailable, visit_all_threads


def test_database_stopped_then_back(
    own_mariadb: MariaDBServer, start_replicas: ReplicaFactory
) -> None:
    own_mariadb.create_database("visits")
    replicas = start_replicas(own_mariadb, "visits", "r1", "r2", "r3")
    oks = sum(a.status == 200 for a in visit_all_threads(replicas))
    processes = {r.name: (r.master_pid, r.worker_pids()) for r in replicas}

    own_mariadb.stop()
    for replica in replicas:
        assert_unavailable(request(f"{replica.url}/"))
        as_json = request(f"{replica.url}/", accept="application/json")
        assert as_json.status == 503
        assert as_json.json()["error"].startswith("database unavailable")
        assert_unavailable(request(f"{replica.url}/readyz"))
        assert request(f"{replica.url}/healthz").status == 200

    own_mariadb.start()
    # The very next request on each replica succeeds: no restart, and no visit
    # lost to a connection left over from before the outage.
    for replica in replicas:
        assert request(f"{replica.url}/").status == 200
        oks += 1
    after = visit_all_threads(replicas)
    assert [a.status for a in after] == [200] * len(after)
    oks += len(after)

    assert {r.name: (r.master_pid, r.worker_pids()) for r in replicas} == processes
    assert sum(own_mariadb.counts("visits").values()) == oks


def test_database_hung_answers_503_fast_and_health_stays_instant(
    own_mariadb: MariaDBServer, start_replicas: ReplicaFactory
) -> None:
    own_mariadb.create_database("visits")
    (replica,) = start_replicas(own_mariadb, "visits", "r1")
    visit_all_threads([replica])

    own_mariadb.pause()
    try:
        pending: list[Answer] = []
        visit = threading.Thread(target=lambda: pending.append(request(f"{replica.url}/")))
        visit.start()
        health = request(f"{replica.url}/healthz")
        visit.join(timeout=FAST_503_SECONDS + 5)

        assert health.status == 200
        assert health.seconds < 0.5, "liveness must not wait on the database"
        assert len(pending) == 1, "a request hung on the frozen database"
        assert_unavailable(pending[0])
        assert_unavailable(request(f"{replica.url}/readyz"))
    finally:
        own_mariadb.resume()

    after = visit_all_threads([replica])
    assert [a.status for a in after] == [200] * len(after)


def test_replicas_start_before_the_database_and_create_the_schema(
    start_replicas: ReplicaFactory,
) -> None:
    server = MariaDBServer()  # allocated, not yet running
    try:
        replicas = start_replicas(server, "visits", "early-1", "early-2", "early-3")
        for replica in replicas:
            assert_unavailable(request(f"{replica.url}/"))
            assert request(f"{replica.url}/readyz").status == 503

        server.initialize()
        server.create_database("visits")
        with ThreadPoolExecutor(max_workers=3) as pool:
            first = list(pool.map(lambda r: request(f"{r.url}/"), replicas))

        assert [a.status for a in first] == [200, 200, 200]
        assert server.counts("visits") == {"early-1": 1, "early-2": 1, "early-3": 1}
    finally:
        server.destroy()


def test_sigterm_lets_a_request_in_flight_finish(
    own_mariadb: MariaDBServer, start_replicas: ReplicaFactory
) -> None:
    own_mariadb.create_database("visits")
    (replica,) = start_replicas(own_mariadb, "visits", "r1")
    assert replica.process is not None

    own_mariadb.pause()  # makes the next visit slow: it waits on the database
    try:
        pending: list[Answer] = []
        visit = threading.Thread(target=lambda: pending.append(request(f"{replica.url}/")))
        visit.start()
        threading.Event().wait(0.5)
        replica.process.terminate()
        visit.join(timeout=FAST_503_SECONDS + 5)
        exit_code = replica.process.wait(timeout=15)
    finally:
        own_mariadb.resume()

    assert len(pending) == 1, "the request in flight was cut off"
    assert pending[0].status == 503
    assert exit_code == 0
