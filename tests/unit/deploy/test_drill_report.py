"""How a drill's polled requests are judged and counted, and how its report
reads: one line, ok only without failures, lost counts or problems."""

from __future__ import annotations

import pytest

from deploy.drill_report import DrillReport, failure_reason
from deploy.poller import Sample


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
