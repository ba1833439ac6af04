"""The API on a three-node Galera cluster on loopback: every visit counted
exactly once through the loss of the node it writes to, through a connection
broken with a batch's outcome unknown, and through certification conflicts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from deploy.api_client import request
from deploy.poller import Poller
from localservers.galera import GaleraCluster
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
    start_replicas: ReplicaFactory, galera: GaleraCluster, db_host: str, *names: str
) -> list[Replica]:
    return start_replicas(galera.nodes[0], DATABASE, *names, DB_HOST=db_host)


def load(
    replicas: list[Replica],
    seconds: float,
    during: float = 0.0,
    action: Callable[[], None] = lambda: None,
    clients: int = 3,
    interval: float = 0.0,
) -> Counter[str]:
    """``clients`` per replica, each sending a visit every ``interval`` seconds
    (0: back to back), for ``seconds``; ``action`` runs ``during`` seconds in.
    Every outcome, counted."""
    with ExitStack() as stack:
        pollers = [
            stack.enter_context(Poller(f"{r.url}/", interval=interval, max_seconds=seconds))
            for r in replicas
            for _ in range(clients)
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


def test_certification_conflicts_are_retried_and_count_once(
    galera: GaleraCluster, start_replicas: ReplicaFactory
) -> None:
    # Two processes of one replica name writing its row on two nodes at once:
    # the case one writer at a time makes rare, forced here.
    first = start_on(start_replicas, galera, galera.nodes[0].address, "same")[0]
    second = Replica("same", {**first.env, "DB_HOST": galera.nodes[1].address})
    second.start()
    try:
        # A visit every 10 ms to each: conflicts, yet not so many that one
        # batch meets more of them in a row than the store's retries allow.
        outcomes = load([first, second], seconds=8, clients=1, interval=0.01)
        logs = first.log_path.read_text() + second.log_path.read_text()
    finally:
        second.stop()

    assert set(outcomes) == {"200"}, outcomes
    assert galera.counts(DATABASE) == {"same": outcomes["200"]}
    assert "transaction conflict" in logs
