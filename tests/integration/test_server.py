"""gunicorn with the project's configuration: start-up checks, the process
model, and the request limits."""

from __future__ import annotations

import sys
import time

import pytest

from deploy.api_client import request
from localservers.mariadb import MariaDBServer
from localservers.ports import wait_until
from localservers.replica import Replica
from tests.utils.run import run
from tests.utils.servers import ReplicaFactory, integration_env


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"DB_PORT": "mysql"},
            "visit-counter: DB_PORT must be a port number from 1 to 65535, got 'mysql'",
        ),
        (
            {"WEB_CONCURRENCY": "0"},
            "visit-counter: WEB_CONCURRENCY must be a whole number of at least 1, got '0'",
        ),
        (
            {"DB_PASSWORD": "x", "DB_PASSWORD_FILE": "/run/secrets/db"},
            "visit-counter: DB_PASSWORD and DB_PASSWORD_FILE are both set; set only one",
        ),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(env: dict[str, str], line: str) -> None:
    result = run(
        sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", check=False, env=env, timeout=30
    )
    assert result.returncode != 0
    assert result.stderr.strip() == line
    assert result.stdout == ""


def test_worker_count_comes_from_web_concurrency(mariadb: MariaDBServer, database: str) -> None:
    replica = Replica("web-1", {**integration_env(mariadb, database), "WEB_CONCURRENCY": "3"})
    try:
        replica.start()
        # Workers boot one after another; healthz answers with the first.
        wait_until(lambda: len(replica.worker_pids()) >= 3, 15, "three workers")
        time.sleep(0.5)  # and no fourth one follows
        assert len(replica.worker_pids()) == 3
    finally:
        replica.stop()


def raw_get(port: int, path: str, headers: dict[str, str]) -> int:
    return request(f"http://127.0.0.1:{port}{path}", timeout=10, headers=headers).status


def test_request_limits_fit_browsers_and_refuse_abuse(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "web-1")
    browser_like = {
        "Cookie": "; ".join(f"cookie{i}={'v' * 120}" for i in range(80)),  # ~10 KB
        "User-Agent": "Mozilla/5.0 " + "x" * 400,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    }
    long_query = "/?" + "&".join(f"utm_{i}={'q' * 50}" for i in range(70))  # ~4.3 KB line

    assert raw_get(replica.port, long_query, browser_like) == 200
    assert raw_get(replica.port, "/?" + "q" * 9000, {}) == 414
    assert raw_get(replica.port, "/", {"X-Huge": "h" * 20000}) == 431
