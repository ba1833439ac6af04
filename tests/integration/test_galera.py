"""The API on a three-node Galera cluster on loopback: every visit counted
exactly once through the loss of the node it writes to, through a connection
broken with a batch's outcome unknown, and through certification conflicts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import pymysql
import pytest

from deploy.api_client import request
from deploy.poller import Poller
from localservers.galera import GaleraCluster, GaleraNode
from localservers.ports import wait_until
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory
from tests.utils.tcp_proxy import CuttingProxy

DATABASE = "visits"
# Each batch is sent as one multi-statement query that begins so.
BATCH_MARKER = b"START TRANSACTION"


@pytest.fixture
def galera() -> Iterator[GaleraCluster]:
    cluster = GaleraCluster()
    try:
        cluster.start()
        cluster.create_database(DATABASE)
        yield cluster
    finally:
        cluster.destroy()


def start_on(
    start_replicas: ReplicaFactory, galera: GaleraCluster, db_host: str, *names: str, **env: str
) -> list[Replica]:
    return start_replicas(galera.nodes[0], DATABASE, *names, DB_HOST=db_host, **env)


def load(
    replicas: list[Replica], seconds: float, during: float, action: Callable[[], None]
) -> Counter[str]:
    """Three clients per replica, each sending visits back to back for
    ``seconds``; ``action`` runs ``during`` seconds in. Every outcome, counted."""
    with ExitStack() as stack:
        pollers = [
            stack.enter_context(Poller(f"{r.url}/", interval=0.0, max_seconds=seconds))
            for r in replicas
            for _ in range(3)
        ]
        time.sleep(during)
        action()
        time.sleep(max(0.0, seconds - during))
    return Counter(s.outcome for p in pollers for s in p.samples)


def stored_total(galera: GaleraCluster) -> int:
    return sum(galera.counts(DATABASE).values())


def test_the_writer_killed_under_load_fails_no_visit(
    galera: GaleraCluster, start_replicas: ReplicaFactory
) -> None:
    replicas = start_on(start_replicas, galera, galera.db_host, "g1", "g2", "g3")
    writer = galera.nodes[0]

    outcomes = load(replicas, seconds=12, during=4, action=writer.kill)

    assert set(outcomes) == {"200"}, outcomes
    assert outcomes["200"] > 100
    assert stored_total(galera) == outcomes["200"]
    # The survivors took over: a primary component of two, both synced.
    galera.wait_synced(galera.nodes[1:], size=2)


@pytest.mark.parametrize("forward", [True, False], ids=["committed", "never-sent"])
def test_a_batch_whose_answer_is_lost_counts_once(
    galera: GaleraCluster, start_replicas: ReplicaFactory, forward: bool
) -> None:
    proxy = CuttingProxy(galera.nodes[0].port)
    try:
        # The proxy is the preferred server: every batch goes through it.
        db_host = ",".join([proxy.address, *(n.address for n in galera.nodes[1:])])
        (replica,) = start_on(start_replicas, galera, db_host, "cut")
        assert request(f"{replica.url}/").status == 200

        proxy.arm(BATCH_MARKER, forward=forward)
        answer = request(f"{replica.url}/", accept="application/json")

        assert proxy.cut.is_set()
        assert answer.status == 200
        assert answer.json()["visits"] == {"cut": 2}
        assert galera.counts(DATABASE) == {"cut": 2}
        committed_before = (
            "had committed before its connection broke" in replica.log_path.read_text()
        )
        assert committed_before is forward
    finally:
        proxy.close()


@contextmanager
def applier_held(node: GaleraNode) -> Iterator[None]:
    """While inside, ``node`` applies no replicated write to the table ``held``
    (nor any write set ordered after it): a local transaction outside
    replication (``wsrep_on = OFF``) holds the row's lock. Galera aborts a
    replicated transaction whose lock its applier needs, but waits for one
    that is not replicated."""
    node.sql(
        "CREATE TABLE held (id INT PRIMARY KEY, n INT NOT NULL); INSERT INTO held VALUES (1, 0)",
        DATABASE,
    )
    holder = pymysql.connect(unix_socket=str(node.socket), user="root", database=DATABASE)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SET SESSION wsrep_on = OFF")
            cursor.execute("START TRANSACTION")
            cursor.execute("SELECT n FROM held WHERE id = 1 FOR UPDATE")
        yield
    finally:
        holder.close()  # its transaction rolls back: the applier goes on


def cert_failures(node: GaleraNode) -> int:
    return int(node.status("wsrep_local_cert_failures")["wsrep_local_cert_failures"])


def test_a_certification_conflict_is_retried_and_counts_once(
    galera: GaleraCluster, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_on(start_replicas, galera, galera.db_host, "same")
    assert request(f"{replica.url}/").status == 200
    writer, other = galera.nodes[0], galera.nodes[1]
    failures_before = cert_failures(writer)

    with ThreadPoolExecutor(1) as pool, applier_held(writer):
        # A visit of the same replica's row commits on another node first
        # (wsrep_sync_wait: once that node has the table ``held``). The writer
        # has not applied it when its next batch commits: a certification
        # conflict, forced, where one writer at a time makes it rare.
        other.sql(
            "SET SESSION wsrep_sync_wait = 3; START TRANSACTION;"
            " UPDATE held SET n = n + 1 WHERE id = 1;"
            " UPDATE visits SET count = count + 1 WHERE replica = 'same'; COMMIT",
            DATABASE,
        )
        answering = pool.submit(request, f"{replica.url}/", accept="application/json")
        # The batch's commit waits for the held write set ordered before it.
        wait_until(
            lambda: (
                writer.sql(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                    " WHERE USER = 'visits' AND INFO = 'COMMIT'"
                ).strip()
                == "1"
            ),
            10,
            "the replica's batch committing on the writer",
        )
    answer = answering.result()

    assert answer.status == 200, answer
    assert answer.json()["visits"] == {"same": 3}
    assert galera.counts(DATABASE) == {"same": 3}
    assert cert_failures(writer) == failures_before + 1
    log = replica.log_path.read_text()
    # Run again on the same node, not moved to another as a failure would be.
    assert "transaction conflict (1): running it again" in log
    assert "trying the next server" not in log


@contextmanager
def row_locked(node: GaleraNode) -> Iterator[None]:
    """While inside, a transaction on ``node`` holds every row lock of ``visits``."""
    holder = pymysql.connect(unix_socket=str(node.socket), user="root", database=DATABASE)
    try:
        with holder.cursor() as cursor:
            cursor.execute("START TRANSACTION")
            cursor.execute("SELECT count FROM visits FOR UPDATE")
        yield
    finally:
        holder.close()


@contextmanager
def sync_wait_stalled(node: GaleraNode, committer: GaleraNode) -> Iterator[None]:
    """While inside, a read on ``node`` with ``wsrep_sync_wait`` waits: a
    write committed on ``committer`` is one ``node`` cannot apply yet."""
    with applier_held(node):
        committer.sql(
            "SET SESSION wsrep_sync_wait = 3; UPDATE held SET n = n + 1 WHERE id = 1", DATABASE
        )
        yield


@pytest.mark.parametrize("failure", ["refused", "stalled-batch", "stalled-lookup"])
def test_a_node_worth_another_try_is_tried_again(
    galera: GaleraCluster, start_replicas: ReplicaFactory, failure: str
) -> None:
    # A view change, as the API meets it: the connection it held breaks, and
    # the next node fails too, for a moment, in a way that says it is alive:
    # it refuses at once (restarting), or it takes a new connection, says it
    # takes writes, then holds it past the read timeout, in the batch (here a
    # row lock) or in the look-up of lost batches before it (wsrep_sync_wait).
    # Every server has failed, but that one is tried again while time is left.
    first, second, committer = galera.nodes
    cutting = CuttingProxy(first.port)
    restarting = CuttingProxy(second.port, listening=failure != "refused")
    try:
        db_host = f"{cutting.address},{restarting.address}"
        # One worker: the connection the proxy breaks is the one the next visit uses.
        (replica,) = start_on(start_replicas, galera, db_host, "again", WEB_CONCURRENCY="1")
        assert request(f"{replica.url}/").status == 200
        with ThreadPoolExecutor(1) as pool, ExitStack() as held:
            if failure == "refused":
                held.callback(restarting.listen)
            elif failure == "stalled-batch":
                held.enter_context(row_locked(second))
            else:
                held.enter_context(sync_wait_stalled(second, committer))
            cutting.arm(BATCH_MARKER, forward=False)
            answering = pool.submit(request, f"{replica.url}/", accept="application/json")
            wait_until(
                lambda: "trying again the servers worth it" in replica.log_path.read_text(),
                10,
                "the replica trying the second server again",
            )
            held.close()  # the second server recovers
            answer = answering.result()
    finally:
        cutting.close()
        restarting.close()

    assert cutting.cut.is_set()
    assert answer.status == 200, answer
    assert answer.json()["visits"] == {"again": 2}
    assert galera.counts(DATABASE) == {"again": 2}
    # A stalled batch commits once released, and its key refuses the retry.
    committed_before = "had committed before its connection broke" in replica.log_path.read_text()
    assert committed_before is (failure == "stalled-batch")


def test_an_acknowledged_batch_galera_lost_is_applied_again(
    galera: GaleraCluster, start_replicas: ReplicaFactory
) -> None:
    # One worker: the batch undone below is the one that worker remembers
    # (with two, the failover could happen in the other, which has no cause
    # to apply anything again).
    (replica,) = start_on(start_replicas, galera, galera.db_host, "lost", WEB_CONCURRENCY="1")
    assert request(f"{replica.url}/").status == 200
    assert request(f"{replica.url}/").status == 200
    # What Galera does, now and then, when the node that took a transaction
    # is killed (Jepsen, 2026): the survivors never got the second batch.
    # That loss cannot be caused on demand, so the survivors undo it: its key
    # and its visit, together, as the transaction it was.
    galera.nodes[1].sql(
        "START TRANSACTION;"
        " DELETE FROM visit_batches ORDER BY seq DESC LIMIT 1;"
        " UPDATE visits SET count = count - 1 WHERE replica = 'lost';"
        " COMMIT",
        DATABASE,
    )
    galera.nodes[0].kill()

    answer = request(f"{replica.url}/", accept="application/json")

    assert answer.status == 200
    assert answer.json()["visits"] == {"lost": 3}
    assert galera.counts(DATABASE) == {"lost": 3}
    assert "was acknowledged but is missing here" in replica.log_path.read_text()


def test_a_batch_waits_for_a_node_to_take_writes_again(
    galera: GaleraCluster, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_on(start_replicas, galera, galera.db_host, "wait")
    assert request(f"{replica.url}/").status == 200
    # Every node says it does not take writes, as during a view change: a
    # desynced node reports Donor/Desynced, not Synced. The connection the
    # replica holds is dropped, so the next batch must choose a node again.
    for node in galera.nodes:
        node.sql("SET GLOBAL wsrep_desync = ON")
    writer = galera.nodes[0]
    for connection in writer.sql(
        "SELECT id FROM information_schema.PROCESSLIST WHERE user = 'visits'"
    ).split():
        writer.sql(f"KILL CONNECTION {connection}")
    resync = threading.Timer(1.0, galera.nodes[1].sql, ["SET GLOBAL wsrep_desync = OFF"])
    resync.start()
    try:
        began = time.monotonic()
        answer = request(f"{replica.url}/", accept="application/json")
        waited = time.monotonic() - began
    finally:
        resync.join()
        for node in galera.nodes:
            node.sql("SET GLOBAL wsrep_desync = OFF")

    assert answer.status == 200, answer
    assert answer.json()["visits"] == {"wait": 2}
    assert waited >= 0.9
    assert "trying again the servers worth it" in replica.log_path.read_text()
