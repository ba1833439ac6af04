"""The HTTP layer (the ASGI app) through falcon.testing, with a plain in-memory store."""

from __future__ import annotations

import asyncio

import falcon
import falcon.testing
import pytest

from api.app import create_app
from api.settings import Settings
from tests.utils.memory_store import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def client(store: MemoryStore) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Settings(replica_name="pod-1"), store))


def test_root_counts_and_greets_in_text(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    store.visits["pod-0"] = 4
    result = client.simulate_get("/")
    assert result.status_code == 200
    assert result.headers["content-type"] == "text/plain; charset=utf-8"
    assert result.text == "Hello from pod-1!\n\nYou visited:\n- pod-0 4 times\n- pod-1 1 times\n"
    assert result.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "text/plain", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
)
def test_text_is_the_default(client: falcon.testing.TestClient, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    assert client.simulate_get("/", headers=headers).text.startswith("Hello from pod-1!")


@pytest.mark.parametrize("accept", ["application/json", "text/plain;q=0.5, application/json"])
def test_json_when_preferred(client: falcon.testing.TestClient, accept: str) -> None:
    client.simulate_get("/")
    result = client.simulate_get("/", headers={"Accept": accept})
    assert result.headers["content-type"] == "application/json"
    assert result.json == {"replica": "pod-1", "visits": {"pod-1": 2}, "total": 2}


def test_visits_counts_nothing(client: falcon.testing.TestClient, store: MemoryStore) -> None:
    client.simulate_get("/")
    assert client.simulate_get("/visits").json == {"visits": {"pod-1": 1}, "total": 1}
    assert store.visits == {"pod-1": 1}


@pytest.mark.parametrize("path", ["/favicon.ico", "/robots.txt", "/visits/extra"])
def test_other_paths_are_404_and_count_nothing(
    client: falcon.testing.TestClient, store: MemoryStore, path: str
) -> None:
    assert client.simulate_get(path).status_code == 404
    assert store.visits == {}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_with_allow(
    client: falcon.testing.TestClient, store: MemoryStore, method: str
) -> None:
    result = client.simulate_request(method, "/")
    assert result.status_code == 405
    assert "GET" in result.headers["allow"]
    assert store.visits == {}


def test_database_down_is_503_with_retry_after_in_text(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    store.down = True
    for path in ("/", "/visits", "/readyz"):
        result = client.simulate_get(path)
        assert result.status_code == 503
        assert int(result.headers["retry-after"]) > 0
        assert result.headers["content-type"] == "text/plain; charset=utf-8"
        assert result.text == "database unavailable: Can't connect to MySQL server (error 2003)\n"


def test_database_down_is_503_in_json_when_preferred(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    store.down = True
    result = client.simulate_get("/", headers={"Accept": "application/json"})
    assert result.status_code == 503
    assert result.json == {
        "error": "database unavailable: Can't connect to MySQL server (error 2003)"
    }


def test_liveness_never_asks_the_database(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    store.down = True
    result = client.simulate_get("/healthz")
    assert result.status_code == 200
    assert result.text == "ok\n"


def test_readiness_follows_the_database(
    client: falcon.testing.TestClient, store: MemoryStore
) -> None:
    assert client.simulate_get("/readyz").status_code == 200
    store.down = True
    assert client.simulate_get("/readyz").status_code == 503


def test_the_store_is_closed_when_the_server_shuts_the_app_down(store: MemoryStore) -> None:
    app = create_app(Settings(replica_name="pod-1"), store)

    async def serve_then_shut_down() -> None:
        async with falcon.testing.ASGIConductor(app) as conductor:
            assert (await conductor.simulate_get("/")).status_code == 200
            assert not store.closed

    asyncio.run(serve_then_shut_down())
    assert store.closed


@pytest.mark.parametrize("accept", [None, "application/json"])
@pytest.mark.parametrize(
    ("method", "path", "down"),
    [("GET", "/", False), ("GET", "/", True), ("GET", "/nowhere", False), ("POST", "/", False)],
)
def test_negotiated_answers_vary_on_accept(
    client: falcon.testing.TestClient,
    store: MemoryStore,
    accept: str | None,
    method: str,
    path: str,
    down: bool,
) -> None:
    store.down = down
    headers = {"Accept": accept} if accept else {}
    result = client.simulate_request(method, path, headers=headers)
    assert result.headers["vary"] == "Accept"


@pytest.mark.parametrize("path", ["/visits", "/healthz"])
def test_answers_in_one_format_do_not_vary(client: falcon.testing.TestClient, path: str) -> None:
    assert "vary" not in client.simulate_get(path).headers
