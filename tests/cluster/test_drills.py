"""The original experiment's drills, each under a client polling every 50 ms.

Each drill is the code ``invoke k8s-drill`` runs; the assertions are the
promises: no failed request while pods are replaced, a clean 503 (never a
dead Service) while the database is away, and no count ever lost.
"""

from __future__ import annotations

from deploy import drill
from deploy.poller import DrillReport
from tests.utils.cluster import Cluster, Deployed, api_restarts, drill_target


def run(cluster: Cluster, name: str) -> DrillReport:
    (report,) = drill.run_drills([name], drill_target(cluster))
    assert report.requests > 0
    assert not report.lost, report.summary()
    return report


def test_deleting_the_pod_that_answered_fails_no_request(
    cluster: Cluster, deployed: Deployed
) -> None:
    report = run(cluster, "pod-delete")
    assert report.failed == 0, report.summary()
    assert len(report.replicas_after) == 3
    assert report.ok, report.summary()


def test_a_rollout_restart_fails_no_request(cluster: Cluster, deployed: Deployed) -> None:
    report = run(cluster, "rollout")
    assert report.failed == 0, report.summary()
    assert report.ok, report.summary()


def test_a_database_outage_answers_503_throughout_and_heals(
    cluster: Cluster, deployed: Deployed
) -> None:
    restarts = api_restarts(cluster)
    report = run(cluster, "db-outage")
    # Only 200 (before the database left) and 503 with Retry-After: never a
    # reset or refused connection from a Service that lost its endpoints.
    assert report.failed == 0, report.summary()
    assert report.statuses.get("503", 0) > 0, report.statuses
    assert report.recovery_seconds is not None
    assert report.recovery_seconds <= 30
    assert report.ok, report.summary()
    assert api_restarts(cluster) == restarts, "the API pods were not restarted"


def test_deleting_the_database_pod_keeps_every_count(cluster: Cluster, deployed: Deployed) -> None:
    report = run(cluster, "db-restart")
    assert sum(report.after.values()) >= sum(report.before.values()) > 0
    assert report.ok, report.summary()
