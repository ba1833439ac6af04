"""GET /metrics on real gunicorn replicas (several workers each) against a
real MariaDB: counts summed over every worker, the group commit's batches,
database outages by reason, and a scrape that never waits on the database."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from deploy.api_client import request
from localservers.mariadb import MariaDBServer
from localservers.ports import wait_until
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

VISITS = "visit_counter_visits_total"
BATCH_COUNT = "visit_counter_visit_batch_size_count"
BATCH_SUM = "visit_counter_visit_batch_size_sum"
UP = "visit_counter_database_up"
NO_LABELS: frozenset[tuple[str, str]] = frozenset()


def scrape_text(replica: Replica) -> str:
    answer = request(f"{replica.url}/metrics")
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return answer.body


def scrape(replica: Replica) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(scrape_text(replica))
        for sample in family.samples
    }


def errors(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "visit_counter_database_errors_total"
    }


def visit(replica: Replica, times: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        return [answer.status for answer in pool.map(request, [f"{replica.url}/"] * times)]


def metrics_dir_of(replica: Replica) -> Path:
    """The master's private multiprocess directory (named after its PID)."""
    (found,) = Path(tempfile.gettempdir()).glob(f"visit-counter-metrics-{replica.master_pid}-*")
    return found


def test_visits_add_up_exactly_across_workers(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1", WEB_CONCURRENCY="3")
    before = scrape(replica)

    statuses = visit(replica, 90)

    assert statuses == [200] * 90
    # Any worker may answer a scrape: each must report every worker's visits.
    for _ in range(6):
        after = scrape(replica)
        assert after[(VISITS, NO_LABELS)] - before.get((VISITS, NO_LABELS), 0) == 90
        assert after[(BATCH_SUM, NO_LABELS)] - before.get((BATCH_SUM, NO_LABELS), 0) == 90
        batches = after[(BATCH_COUNT, NO_LABELS)] - before.get((BATCH_COUNT, NO_LABELS), 0)
        assert 1 <= batches <= 90
        answered = frozenset({"route": "/", "method": "GET", "code": "200"}.items())
        assert after[("visit_counter_http_requests_total", answered)] == 90
    assert mariadb.counts(database) == {"m1": 90}
    # The visits really were spread: more than one worker wrote samples.
    assert len(list(metrics_dir_of(replica).glob("counter_*.db"))) > 1


def test_a_replaced_worker_keeps_its_counts_and_drops_its_gauge(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1", WEB_CONCURRENCY="2")
    assert visit(replica, 40) == [200] * 40
    directory = metrics_dir_of(replica)
    workers = replica.worker_pids()
    victim = next(pid for pid in workers if (directory / f"gauge_livemostrecent_{pid}.db").exists())

    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in replica.worker_pids(), 30, "the worker to be reaped")
    wait_until(lambda: len(replica.worker_pids()) == 2, 30, "gunicorn to replace the worker")

    assert not (directory / f"gauge_livemostrecent_{victim}.db").exists()
    assert (directory / f"counter_{victim}.db").exists()
    assert scrape(replica)[(VISITS, NO_LABELS)] == 40


def test_a_reload_replaces_every_worker_and_still_cleans_up(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1", WEB_CONCURRENCY="2")
    assert visit(replica, 20) == [200] * 20
    directory = metrics_dir_of(replica)
    old_workers = replica.worker_pids()

    # SIGHUP: gunicorn reads its config afresh and replaces every worker.
    os.kill(replica.master_pid, signal.SIGHUP)
    wait_until(
        lambda: not replica.worker_pids() & old_workers and len(replica.worker_pids()) == 2,
        30,
        "gunicorn to replace both workers",
    )
    wait_until(
        lambda: (
            not any((directory / f"gauge_livemostrecent_{pid}.db").exists() for pid in old_workers)
        ),
        30,
        "the old workers' gauges to go",
    )
    assert scrape(replica)[(VISITS, NO_LABELS)] == 20
    replica.stop()
    assert not directory.exists()


def test_preloading_the_app_is_refused_at_start(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    # A preloaded app imports prometheus-client before the directory exists.
    with pytest.raises(RuntimeError, match="--preload is not supported"):
        start_replicas(mariadb, database, "m1", GUNICORN_CMD_ARGS="--preload")


def test_the_directory_is_removed_when_gunicorn_exits(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1")
    directory = metrics_dir_of(replica)
    assert directory.stat().st_mode & 0o777 == 0o700
    replica.stop()
    assert not directory.exists()


def test_the_scrape_parses_and_shows_no_secret(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1")
    visit(replica, 3)
    request(f"{replica.url}/no/such/path")
    request(f"{replica.url}/readyz")

    text = scrape_text(replica)
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families == {
        "visit_counter_http_requests": "counter",
        "visit_counter_http_request_duration_seconds": "histogram",
        "visit_counter_visits": "counter",
        "visit_counter_visit_batch_size": "histogram",
        "visit_counter_database_errors": "counter",
        "visit_counter_database_up": "gauge",
    }
    assert replica.env["DB_PASSWORD"] not in text
    assert "/no/such/path" not in text


def worker_views(replica: Replica) -> dict[int, float]:
    """Each live worker's own database_up, read from its file."""
    views = {}
    for path in metrics_dir_of(replica).glob("gauge_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        views[pid] = next(value for key, value, _, _ in values if f'"{UP}"' in key)
    return views


def test_outage_counts_unreachable_and_flips_the_gauge(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1", WEB_CONCURRENCY="2")
    # Every worker has seen the database answer, so an idle one has a stale view.
    wait_until(
        lambda: visit(replica, 20) == [200] * 20 and list(worker_views(replica).values()) == [1, 1],
        30,
        "both workers to reach the database",
    )
    before = scrape(replica)
    assert before[(UP, NO_LABELS)] == 1

    mariadb.stop()
    try:
        # One failed visit, on one worker: the other still thinks all is well.
        assert request(f"{replica.url}/").status == 503
        views_during = worker_views(replica)
        during = scrape(replica)
        assert request(f"{replica.url}/readyz").status == 503
        after_readiness = scrape(replica)
    finally:
        mariadb.start()

    assert sorted(views_during.values()) == [0, 1]
    # The latest view wins: the idle worker's stale 1 does not hide the outage.
    assert during[(UP, NO_LABELS)] == 0
    rose = {reason: n - errors(before)[reason] for reason, n in errors(during).items()}
    assert rose == {"unreachable": 1, "timeout": 0, "access_denied": 0, "other": 0}
    assert errors(after_readiness)["unreachable"] == errors(during)["unreachable"] + 1
    assert during[(VISITS, NO_LABELS)] == before[(VISITS, NO_LABELS)]

    # One visit after the recovery, on one worker: the other may still hold its 0.
    assert request(f"{replica.url}/").status == 200
    assert scrape(replica)[(UP, NO_LABELS)] == 1


def test_scrape_answers_while_the_database_hangs(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "m1")
    assert visit(replica, 10) == [200] * 10
    before = scrape(replica)

    mariadb.pause()
    try:
        pending: list[int] = []
        stuck = threading.Thread(target=lambda: pending.append(request(f"{replica.url}/").status))
        stuck.start()
        # The visit waits on the frozen database for its timeout; a scrape
        # started after it is answered first, whichever worker takes it, unless
        # it waits on the database too.
        during = scrape(replica)
        scraped_while_stuck = stuck.is_alive()
        stuck.join(timeout=60)
    finally:
        mariadb.resume()

    assert scraped_while_stuck, "the scrape waited as long as a database call"
    assert pending == [503]
    assert during[(VISITS, NO_LABELS)] == before[(VISITS, NO_LABELS)]
    after = scrape(replica)
    assert errors(after)["timeout"] > errors(before)["timeout"]
    assert after[(UP, NO_LABELS)] == 0
    assert request(f"{replica.url}/").status == 200
    assert scrape(replica)[(UP, NO_LABELS)] == 1
