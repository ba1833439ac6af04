"""The API seen from outside, as `invoke vagrant-deploy`, `k8s-deploy` and the
drills see it, against a real HTTP server on loopback: a stdlib server that
answers like the API (it is the client logic under test here, not the API)."""

from __future__ import annotations

import threading
import time

import pytest

from deploy import api_client, vagrant
from deploy.commands import DeployError
from localservers.ports import free_port
from tests.utils.fake_api import FakeApi, rotating


@pytest.fixture
def said() -> list[str]:
    return []


def test_three_replicas_answering_ends_the_wait(said: list[str]) -> None:
    with FakeApi(rotating("api-a", "api-b", "api-a", "api-c")) as api:
        survey = api_client.wait_for_replicas(api.url, 3, timeout=10, interval=0, say=said.append)
    assert survey.replicas == ["api-a", "api-b", "api-c"]
    assert survey.requests == 4
    assert survey.visits == {"api-a": 2, "api-b": 1, "api-c": 1}
    assert said == [
        "  replica 1/3 answered: api-a",
        "  replica 2/3 answered: api-b",
        "  replica 3/3 answered: api-c",
    ]
    # JSON asked for, and one connection per request (kube-proxy balances
    # connections, not requests).
    assert set(api.accept_headers) == {"application/json"}
    assert len(api.connections) == 4


def test_old_replicas_in_the_counts_do_not_count_as_answering(said: list[str]) -> None:
    # Pods from earlier rollouts stay in the counts forever; only replicas
    # that answer now prove three pods serve.
    def behaviour(n: int) -> tuple[int, str | None]:
        return 200, ["api-a", "api-b"][n % 2]

    with FakeApi(behaviour) as api:
        api.visits.update({"old-1": 5, "old-2": 7, "old-3": 1})
        with pytest.raises(DeployError) as caught:
            api_client.wait_for_replicas(
                api.url, 3, timeout=0.5, interval=0.01, say=said.append, hint=vagrant.LOOK_INSIDE
            )
    message = str(caught.value)
    assert message.startswith("timed out after 0s: 2 of 3 replicas answered")
    assert "(api-a, api-b)" in message
    assert message.endswith(
        ". Look inside the VM: kubectl --kubeconfig .vagrant/kubeconfig get pods,services -A"
    )


def test_outage_answers_are_waited_through(said: list[str]) -> None:
    def behaviour(n: int) -> tuple[int, str | None]:
        return (503, None) if n < 5 else (200, f"api-{n % 3}")

    with FakeApi(behaviour) as api:
        survey = api_client.wait_for_replicas(api.url, 3, timeout=10, interval=0, say=said.append)
    assert len(survey.replicas) == 3


def test_the_last_error_is_in_the_timeout_message() -> None:
    with FakeApi(lambda n: (503, None)) as api, pytest.raises(DeployError) as caught:
        api_client.wait_for_replicas(api.url, 3, timeout=0.3, interval=0.01, say=print)
    message = str(caught.value)
    assert "0 of 3 replicas answered" in message
    assert "(none)" in message
    assert "answered 503" in message


def test_nothing_listening_yet_is_waited_for(said: list[str]) -> None:
    # The VM's port forward comes up after `vagrant up` returns, sometimes.
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    result: list[api_client.Survey] = []
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            result.append(
                api_client.wait_for_replicas(url, 3, timeout=15, interval=0.05, say=said.append)
            )
        except BaseException as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive()  # still trying: connection refused so far
    with FakeApi(rotating("api-a", "api-b", "api-c"), port=port):
        waiter.join(15)
    assert not errors
    assert result[0].replicas == ["api-a", "api-b", "api-c"]


def test_nothing_listening_times_out_with_the_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        api_client.wait_for_replicas(url, 3, timeout=0.5, interval=0.05, say=print)
    assert time.monotonic() - started < 5
    assert "refused" in str(caught.value).lower()


def test_counts_reads_visits_without_counting() -> None:
    with FakeApi(rotating("api-a")) as api:
        first = api_client.visit(api.url)
        assert first == api_client.Visit("api-a", {"api-a": 1}, 1)
        assert api_client.counts(api.url) == {"api-a": 1}
        assert api_client.counts(api.url) == {"api-a": 1}
