"""GET /metrics through falcon.testing with the in-memory store (the app's
own registry: no gunicorn, no multiprocess directory): every request counted
by route and status, and the store's metrics in the scrape."""

from __future__ import annotations

import falcon.testing
import pymysql
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
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
