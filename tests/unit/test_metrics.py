"""GET /metrics through falcon.testing with the in-memory store (the app's
own registry: no gunicorn, no multiprocess directory), and the pieces behind
it: the database errors' reason classes and the multiprocess directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import falcon.testing
import pymysql
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import metrics_dir
from api.app import create_app
from api.db_errors import error_reason
from api.metrics import Metrics
from api.settings import Settings
from tests.utils.memory_store import MemoryStore

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def client(store: MemoryStore, metrics: Metrics) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Settings(replica_name="pod-1"), store, metrics))


def scrape(client: falcon.testing.TestClient) -> Samples:
    result = client.simulate_get("/metrics")
    assert result.status_code == 200
    assert result.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(result.text)
        for sample in family.samples
    }


def requests(samples: Samples, route: str, code: str, method: str = "GET") -> float:
    key = frozenset({"route": route, "method": method, "code": code}.items())
    return samples.get(("visit_counter_http_requests_total", key), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for sample, labels in samples if sample == name}


def test_requests_are_counted_by_route_template_and_status(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    for _ in range(3):
        client.simulate_get("/")
    client.simulate_get("/visits")
    client.simulate_post("/")
    store.down = True
    client.simulate_get("/")

    samples = scrape(client)
    assert requests(samples, "/", "200") == 3
    assert requests(samples, "/visits", "200") == 1
    assert requests(samples, "/", "405", method="POST") == 1
    assert requests(samples, "/", "503") == 1
    count = frozenset({"route": "/"}.items())
    assert samples[("visit_counter_http_request_duration_seconds_count", count)] == 5
    assert samples[("visit_counter_http_request_duration_seconds_sum", count)] > 0


def test_unmatched_paths_share_one_label(client: falcon.testing.TestClient) -> None:
    paths = ["/favicon.ico", "/robots.txt", "/visits/extra", "/a/b/c?x=1", "/%00"]
    for path in paths:
        assert client.simulate_get(path).status_code == 404
    client.simulate_request("BREW", "/")

    samples = scrape(client)
    assert requests(samples, "unmatched", "404") == len(paths)
    routes = label_values(samples, "visit_counter_http_requests_total", "route")
    assert routes == {"/", "unmatched"}
    methods = label_values(samples, "visit_counter_http_requests_total", "method")
    assert methods == {"GET", "other"}
    assert label_values(samples, "visit_counter_http_request_duration_seconds_count", "route") == {
        "/",
        "unmatched",
    }


def test_odd_methods_and_paths_cache_no_more_than_one_series(
    client: falcon.testing.TestClient, metrics: Metrics
) -> None:
    # The per-label-set cache must stay as small as the series themselves,
    # whatever clients send.
    for i in range(50):
        client.simulate_request(f"BREW{i}", f"/nowhere/{i}")
    samples = scrape(client)
    odd = {
        labels
        for name, labels in samples
        if name == "visit_counter_http_requests_total" and dict(labels)["route"] == "unmatched"
    }
    assert len(odd) == 1
    assert len(metrics._request_children) == 1 + 1  # the odd requests' series, and the scrape's


def test_scraping_counts_no_visit_and_never_asks_the_store(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    client.simulate_get("/")
    store.down = True  # any store call would now fail
    for _ in range(3):
        scrape(client)
    store.down = False
    assert store.visits == {"pod-1": 1}
    # Scrapes are counted as requests of their own route, never as visits.
    samples = scrape(client)
    assert requests(samples, "/metrics", "200") == 3
    assert samples[("visit_counter_visits_total", frozenset())] == 0


def test_wrong_method_on_metrics_is_405_with_allow(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post("/metrics")
    assert result.status_code == 405
    assert "GET" in result.headers["allow"]


def test_store_side_metrics_show_in_the_scrape(
    client: falcon.testing.TestClient, metrics: Metrics
) -> None:
    # The store reports these (the in-memory store has no batches or errors).
    metrics.visits_stored(3)
    metrics.visits_stored(1)
    metrics.database_reached()
    metrics.database_failed(pymysql.err.OperationalError(1045, "Access denied for 'visits'"))

    samples = scrape(client)
    assert samples[("visit_counter_visits_total", frozenset())] == 4
    assert samples[("visit_counter_visit_batch_size_count", frozenset())] == 2
    assert samples[("visit_counter_visit_batch_size_sum", frozenset())] == 4
    assert samples[("visit_counter_visit_batch_size_bucket", frozenset({("le", "1.0")}))] == 1
    errors = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "visit_counter_database_errors_total"
    }
    assert errors == {"unreachable": 0, "timeout": 0, "access_denied": 1, "other": 0}
    assert samples[("visit_counter_database_up", frozenset())] == 0
    metrics.database_reached()
    assert scrape(client)[("visit_counter_database_up", frozenset())] == 1


def test_no_secret_or_message_reaches_the_scrape(store: MemoryStore, metrics: Metrics) -> None:
    settings = Settings(replica_name="pod-1", db_password="hunter2-secret")  # noqa: S106
    client = falcon.testing.TestClient(create_app(settings, store, metrics))
    client.simulate_get("/")
    client.simulate_get("/hunter2-secret")
    metrics.database_failed(pymysql.err.OperationalError(1045, "Access denied, hunter2-secret"))
    text = client.simulate_get("/metrics").text
    assert "hunter2" not in text
    assert "Access denied" not in text


def _connect_error(host_port: tuple[str, int], timeout: float) -> pymysql.Error:
    try:
        pymysql.connect(
            host=host_port[0], port=host_port[1], connect_timeout=timeout, read_timeout=timeout
        )
    except pymysql.Error as exc:
        return exc
    raise AssertionError("connected")


def test_refused_connection_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        assert error_reason(_connect_error(("127.0.0.1", port), 1)) == "unreachable"


def test_silent_server_is_a_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # accepts, never greets: the handshake read times out
        assert error_reason(_connect_error(sock.getsockname(), 0.2)) == "timeout"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (pymysql.err.OperationalError(1045, "Access denied for user"), "access_denied"),
        (pymysql.err.OperationalError(1044, "Access denied to database"), "access_denied"),
        (pymysql.err.OperationalError(1142, "SELECT command denied"), "access_denied"),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), "unreachable"),
        (pymysql.err.OperationalError(2013, "Lost connection during query"), "unreachable"),
        (pymysql.err.OperationalError(1053, "Server shutdown in progress"), "unreachable"),
        (pymysql.err.OperationalError(1049, "Unknown database 'visits'"), "other"),
        (pymysql.err.InternalError("Packet sequence number wrong"), "other"),
    ],
)
def test_error_reasons_come_from_the_code(error: pymysql.Error, reason: str) -> None:
    assert error_reason(error) == reason


def test_lost_connection_that_timed_out_is_a_timeout() -> None:
    # PyMySQL raises this inside its handler of the socket's TimeoutError.
    error = pymysql.err.OperationalError(2013, "Lost connection to MySQL server (timed out)")
    error.__context__ = TimeoutError("timed out")
    assert error_reason(error) == "timeout"


def test_a_directory_set_after_the_client_was_imported_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process imported prometheus-client without the variable: samples
    # stay in memory, so a multiprocess scrape would silently read nothing.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="do not preload"):
        Metrics()


def test_prepare_makes_a_private_directory_and_exports_it(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    made = metrics_dir.prepare(environ, temp_dir=str(tmp_path))
    assert made.owned
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == str(made.path)
    assert made.path.parent == tmp_path
    assert made.path.name.startswith(f"visit-counter-metrics-{os.getpid()}-")
    assert made.path.stat().st_mode & 0o777 == 0o700
    metrics_dir.remove(made)
    assert not made.path.exists()


def test_the_hooks_find_the_exported_directory(tmp_path: Path) -> None:
    assert metrics_dir.exported({}) is None
    environ: dict[str, str] = {}
    made = metrics_dir.prepare(environ, temp_dir=str(tmp_path))
    assert metrics_dir.exported(environ) == made
    users = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "mine")}
    assert metrics_dir.exported(users) == metrics_dir.MetricsDir(tmp_path / "mine", owned=False)


def test_prepare_removes_what_gone_masters_left(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    stale = [
        tmp_path / f"visit-counter-metrics-{gone.pid}-x",  # its master is gone
        tmp_path / f"visit-counter-metrics-{os.getpid()}-y",  # a master of our own PID
    ]
    live = tmp_path / f"visit-counter-metrics-{os.getppid()}-z"  # a running process's
    unrelated = tmp_path / "something-else"
    for directory in [*stale, live, unrelated]:
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"")

    made = metrics_dir.prepare({}, temp_dir=str(tmp_path))

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [made.path.name, live.name, unrelated.name]
    )


def test_a_users_directory_is_honoured_wiped_and_kept(tmp_path: Path) -> None:
    given = tmp_path / "mine"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "notes.txt").write_text("not ours")
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(given)}

    made = metrics_dir.prepare(environ, temp_dir=str(tmp_path))
    assert made.path == given
    assert not made.owned
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    metrics_dir.remove(made)
    assert given.exists()
