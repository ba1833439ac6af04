"""Counting against a real MariaDB through real gunicorn replicas."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from api.table import RECORD_VISITS
from deploy.api_client import Answer, request
from localservers.mariadb import MariaDBServer
from tests.utils.servers import ReplicaFactory

JSON = "application/json"


def test_counts_are_exact_under_concurrency_across_three_replicas(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    replicas = start_replicas(mariadb, database, "replica-a", "replica-b", "replica-c")
    total_requests = 3000
    targets = [replicas[i % 3] for i in range(total_requests)]

    def visit(index: int) -> tuple[str, Answer]:
        replica = targets[index]
        return replica.name, request(f"{replica.url}/", accept=JSON)

    inserts_before = insert_statements(mariadb)
    with ThreadPoolExecutor(max_workers=48) as pool:
        results = list(pool.map(visit, range(total_requests)))
    # Each batch runs RECORD_VISITS once (one server: one INSERT, no key).
    batches = (insert_statements(mariadb) - inserts_before) // RECORD_VISITS.count("INSERT INTO")

    statuses = Counter(answer.status for _, answer in results)
    assert statuses == {200: total_requests}, f"not every visit succeeded: {statuses}"
    oks_per_replica = Counter(name for name, answer in results if answer.status == 200)
    assert mariadb.counts(database) == dict(oks_per_replica)

    # Every 200 shows a state that includes its own visit. Sort the counts each
    # replica reported for itself: the k-th smallest must be at least k, since
    # the k-th visit to land can never be shown a count below k.
    for replica in replicas:
        seen = sorted(
            answer.json()["visits"][replica.name]
            for name, answer in results
            if name == replica.name
        )
        assert all(count >= rank for rank, count in enumerate(seen, start=1))
        assert seen[-1] == oks_per_replica[replica.name]

    # Group commit: visits arriving together share one batch, so under this
    # load the server runs fewer batches than there were visits.
    assert 0 < batches < total_requests
    # With one server no batch carries a key: none could be applied again.
    assert stored_keys(mariadb, database) == 0


def stored_keys(server: MariaDBServer, database: str) -> int:
    with server.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM visit_batches")
        (count,) = cursor.fetchone()
        return int(count)


def insert_statements(server: MariaDBServer) -> int:
    with server.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Com_insert'")
        (_, value) = cursor.fetchone()
        return int(value)


def test_text_answer_is_the_originals_word_for_word(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    first, second = start_replicas(mariadb, database, "webserver-rc-m6m54", "webserver-rc-36rvq")

    answer = request(f"{first.url}/")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert (
        answer.body
        == "Hello from webserver-rc-m6m54!\n\nYou visited:\n- webserver-rc-m6m54 1 times\n"
    )

    for _ in range(3):
        request(f"{second.url}/")
    answer = request(f"{second.url}/", accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert answer.body == (
        "Hello from webserver-rc-36rvq!\n"
        "\n"
        "You visited:\n"
        "- webserver-rc-m6m54 1 times\n"
        "- webserver-rc-36rvq 4 times\n"
    )


def test_json_answer_on_request(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "web-1")
    request(f"{replica.url}/")

    answer = request(f"{replica.url}/", accept=JSON)

    assert answer.status == 200
    assert answer.headers["content-type"] == JSON
    assert answer.json() == {"replica": "web-1", "visits": {"web-1": 2}, "total": 2}


def test_visits_health_and_unknown_routes_count_nothing(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "web-1")
    request(f"{replica.url}/")

    assert request(f"{replica.url}/visits").json() == {"visits": {"web-1": 1}, "total": 1}
    assert request(f"{replica.url}/favicon.ico").status == 404
    assert request(f"{replica.url}/nope").status == 404
    assert request(f"{replica.url}/healthz").status == 200
    assert request(f"{replica.url}/readyz").status == 200
    not_allowed = request(f"{replica.url}/", method="POST")
    assert not_allowed.status == 405
    assert "GET" in not_allowed.headers["allow"]

    assert mariadb.counts(database) == {"web-1": 1}
    assert request(f"{replica.url}/visits").json() == {"visits": {"web-1": 1}, "total": 1}


def test_replica_names_are_stored_and_shown_as_they_are(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    quoted = 'o\'brien "quoted" back\\slash; DROP TABLE visits; --'
    accented = "réplica-名前-🙂"
    near_twin = 'O\'BRIEN "QUOTED" BACK\\SLASH; DROP TABLE VISITS; --'
    replicas = start_replicas(mariadb, database, quoted, accented, near_twin)

    for replica in replicas:
        assert request(f"{replica.url}/").status == 200
    text = request(f"{replicas[1].url}/").body

    assert mariadb.counts(database) == {quoted: 1, accented: 2, near_twin: 1}
    assert f"Hello from {accented}!" in text
    assert f"- {quoted} 1 times\n" in text
    assert request(f"{replicas[0].url}/visits").json()["visits"] == {
        quoted: 1,
        accented: 2,
        near_twin: 1,
    }
