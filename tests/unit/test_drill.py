"""`invoke k8s-drill` without a cluster: how each request's outcome is
judged, how a report adds up and reads, where the drills run, and the
sequence each drill prints in a dry run."""

from __future__ import annotations

import http.client
import shlex
from collections.abc import Sequence

import pytest

from deploy import drill
from deploy.poller import DrillReport, Sample, error_kind, failure_reason, tally
from deploy.service import lost_counts
from deploy.shell import Argv, Completed, Kubectl, Shell

API = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
DB = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=db"


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


def test_tally_counts_every_request_and_each_failure_reason() -> None:
    samples = [
        Sample(0.1, 200),
        Sample(0.2, 503, retry_after=True),
        Sample(0.3, 503),
        Sample(0.4, None, error="connection refused"),
        Sample(0.5, None, error="connection refused"),
        Sample(0.6, 200),
    ]
    counted = tally(samples, allow_503=True)
    assert counted.requests == 6
    assert counted.failures == {"503 without Retry-After": 1, "connection refused": 2}
    assert counted.statuses == {"200": 2, "503": 2, "connection refused": 2}
    assert counted.failed == 3
    assert tally(samples, allow_503=False).failures == {"status 503": 2, "connection refused": 2}


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
    with pytest.raises(drill.DrillError, match=r"^1 of 2 drill\(s\) failed: db-outage$"):
        drill.check_reports([DrillReport("rollout"), report], say=print)


def test_lost_counts_names_replicas_whose_count_went_down() -> None:
    before = {"api-a": 3, "api-b": 2, "api-c": 1}
    assert lost_counts(before, {**before, "api-d": 1}) == {}
    assert lost_counts(before, {"api-a": 4, "api-b": 1}) == {"api-b": (2, 1), "api-c": (1, 0)}


def answering(output: str) -> Shell:
    def execute(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
        return Completed(0, output)

    return Shell(say=print, execute=execute)


def test_the_namespace_is_where_the_api_deployment_is() -> None:
    assert drill.find_namespace(answering("visit-counter\n"), Kubectl()) == "visit-counter"
    with pytest.raises(drill.DrillError, match="deploy first"):
        drill.find_namespace(answering(""), Kubectl())
    with pytest.raises(drill.DrillError, match="namespaces a, b: pick one with --namespace"):
        drill.find_namespace(answering("b\na\n"), Kubectl())


def test_the_pod_deleted_is_the_replica_that_answered() -> None:
    pods = ["api-7d9-aaaaa", "api-7d9-bbbbb"]
    assert drill.pick_pod(pods, "api-7d9-bbbbb") == "api-7d9-bbbbb"
    # REPLICA_NAME overridden: any API pod will do.
    assert drill.pick_pod(pods, "custom-name") == "api-7d9-aaaaa"
    with pytest.raises(drill.DrillError, match="is it deployed"):
        drill.pick_pod([], "api-7d9-aaaaa")


def test_the_dry_run_prints_each_drill_in_order() -> None:
    lines: list[str] = []
    target = drill.DrillTarget(Shell(dry_run=True, say=lines.append), Kubectl(kubeconfig="kc"))
    reports = drill.run_drills(drill.DRILLS, target)
    assert [r.name for r in reports] == ["pod-delete", "rollout", "db-outage", "db-restart"]
    assert all(r.dry_run and r.ok for r in reports)
    k, ns, url = "kubectl --kubeconfig kc", "--namespace default", "http://127.0.0.1:30001/"
    before = [
        f"GET {url}visits: the counts before",
        f"poll GET {url} every 50 ms (new connection each) until the drill ends",
    ]
    again = f"GET {url} until 3 distinct replicas answer again"
    status = "--timeout=180s " + ns
    assert [line for line in lines if not line.startswith("+ ")] == [
        "== drill pod-delete",
        "pod-delete: dry run",
        "== drill rollout",
        "rollout: dry run",
        "== drill db-outage",
        "db-outage: dry run",
        "== drill db-restart",
        "db-restart: dry run",
    ]
    assert [line[2:] for line in lines if line.startswith("+ ")] == [
        f"{k} get deployments --all-namespaces --selector {API} --no-headers "
        "--output custom-columns=NAMESPACE:.metadata.namespace",
        *before,
        f"GET {url}: which replica answers",
        f"{k} get pods --selector {API} --no-headers "
        f"--output custom-columns=NAME:.metadata.name {ns}",
        f"{k} delete pod {shlex.quote('<replica-that-answered>')} {ns}",
        f"{k} rollout status deployment/api {status}",
        f"{k} get pods --selector {API} --output=wide {ns}",
        again,
        *before,
        f"{k} get pods --selector {API} --no-headers "
        f"--output custom-columns=NAME:.metadata.name {ns}",
        f"{k} rollout restart deployment/api {ns}",
        f"{k} rollout status deployment/api {status}",
        f"{k} wait --for=delete {shlex.quote('pod/<api-pods>')} {status}",
        again,
        *before,
        f"{k} scale deployment/db --replicas=0 {ns}",
        f"{k} wait --for=delete pod --selector {DB} --timeout=180s {ns}",
        f"hold the database down 15s: GET {url} must answer 503 with Retry-After, "
        f"GET {url}healthz 200",
        f"{k} scale deployment/db --replicas=1 {ns}",
        f"GET {url} until it answers 200 again (within 30s)",
        f"{k} rollout status deployment/db {status}",
        again,
        *before,
        f"{k} delete pod --selector {DB} {ns}",
        f"{k} rollout status deployment/db {status}",
        f"GET {url} until it answers 200 again",
        again,
    ]
