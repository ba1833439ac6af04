"""The drills' polling client against a loopback server that answers like
the API: one new connection per request at its interval, and every outcome
named, answers or not."""

from __future__ import annotations

import http.client
import time

import pytest

from deploy.drill_report import DrillReport
from deploy.poller import Poller, error_kind
from localservers.ports import free_port
from tests.utils.fake_api import FakeApi, rotating


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(), "connection refused"),
        (ConnectionResetError(), "connection reset"),
        (http.client.RemoteDisconnected("closed"), "connection reset"),
        (BrokenPipeError(), "connection reset"),
        (TimeoutError(), "timeout"),
        (http.client.BadStatusLine("x"), "bad HTTP answer (BadStatusLine)"),
        (OSError(113, "No route to host"), "network error (No route to host)"),
    ],
)
def test_no_answer_is_named_by_its_cause(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind


def test_the_poller_records_refused_connections_as_failures() -> None:
    with Poller(f"http://127.0.0.1:{free_port()}/", interval=0.02) as poller:
        time.sleep(0.3)
    counted = DrillReport("db-outage")
    counted.record(poller.samples, allow_503=True)
    assert counted.requests >= 5
    assert counted.failures == {"connection refused": counted.requests}


def test_the_poller_sends_one_connection_per_request_at_its_interval() -> None:
    with FakeApi(rotating("api-a", "api-b", "api-c")) as api:
        with Poller(api.url, interval=0.05) as poller:
            time.sleep(0.5)
        samples = poller.samples
    assert 6 <= len(samples) <= 12
    assert len(api.connections) == len(samples)
    assert set(api.accept_headers) == {"application/json"}
