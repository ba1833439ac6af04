"""The drills' polling client against a loopback server that answers like
the API: one new connection per request at its interval, and every outcome
named, answers or not. Then how a drill's polled requests are judged and
counted, and how its report reads: one line, ok only without failures, lost
counts or problems."""

from __future__ import annotations

import http.client
import time

import pytest

from deploy.poller import DrillReport, Poller, Sample, error_kind, failure_reason, lost_counts
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


@pytest.mark.parametrize(
    ("sample", "allow_503", "reason"),
    [
        (Sample(0, 200), False, None),
        (Sample(0, 200), True, None),
        (Sample(0, 503, retry_after=True), True, None),
        (Sample(0, 503, retry_after=True), False, "status 503"),
        (Sample(0, 503, retry_after=False), True, "503 without Retry-After"),
        (Sample(0, 502), True, "status 502"),
        (Sample(0, 404), False, "status 404"),
        (Sample(0, None, error="connection refused"), True, "connection refused"),
        (Sample(0, None, error="timeout"), False, "timeout"),
    ],
)
def test_each_outcome_is_judged_by_the_drills_rules(
    sample: Sample, allow_503: bool, reason: str | None
) -> None:
    assert failure_reason(sample, allow_503) == reason


def test_a_report_counts_every_request_and_each_failure_reason() -> None:
    samples = [
        Sample(0.1, 200),
        Sample(0.2, 503, retry_after=True),
        Sample(0.3, 503),
        Sample(0.4, None, error="connection refused"),
        Sample(0.5, None, error="connection refused"),
        Sample(0.6, 200),
    ]
    counted = DrillReport("db-outage")
    counted.record(samples, allow_503=True)
    assert counted.requests == 6
    assert counted.failures == {"503 without Retry-After": 1, "connection refused": 2}
    assert counted.statuses == {"200": 2, "503": 2, "connection refused": 2}
    assert counted.failed == 3
    strict = DrillReport("rollout")
    strict.record(samples, allow_503=False)
    assert strict.failures == {"status 503": 2, "connection refused": 2}


def test_a_report_is_ok_only_without_failures_lost_counts_or_problems() -> None:
    clean = DrillReport("rollout", requests=120, statuses={"200": 120})
    assert clean.ok
    assert clean.summary() == "rollout: ok: 120 requests, 0 failed; counts kept"
    assert not DrillReport("rollout", failures={"timeout": 1}).ok
    assert not DrillReport("rollout", lost={"api-a": (3, 0)}).ok
    assert not DrillReport("rollout", problems=["something"]).ok


def test_a_failed_report_says_why_in_one_line() -> None:
    report = DrillReport(
        "db-outage",
        requests=400,
        failures={"connection refused": 118, "timeout": 2},
        lost={"api-a": (7, 5)},
        recovery_seconds=12.34,
        problems=["GET /healthz during the outage: connection refused: 15"],
    )
    assert report.summary() == (
        "db-outage: FAILED: 400 requests, 120 failed (connection refused: 118, timeout: 2); "
        "200 again 12.3s after the database returned; counts went down: api-a 7 -> 5; "
        "GET /healthz during the outage: connection refused: 15"
    )


def test_lost_counts_names_replicas_whose_count_went_down() -> None:
    before = {"api-a": 3, "api-b": 2, "api-c": 1}
    assert lost_counts(before, {**before, "api-d": 1}) == {}
    assert lost_counts(before, {"api-a": 4, "api-b": 1}) == {"api-b": (2, 1), "api-c": (1, 0)}
