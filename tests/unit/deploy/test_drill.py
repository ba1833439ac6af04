"""`invoke k8s-drill` without a cluster: where the drills run, the pod a
drill deletes, the sequence each drill prints in a dry run, and the drills
end to end on the client side: the polling client against a loopback server
that answers like the API, with kubectl replaced by a scripted executor whose
commands switch that server's behaviour (the database goes away, a pod is
deleted). What is under test is the drill's bookkeeping: what counts as a
failure, the recovery time, lost counts."""

from __future__ import annotations

import random
import shlex
import threading
import time
from collections.abc import Callable

import pytest

from deploy import drill
from deploy.commands import DeployError, Kubectl, Runner, print_only
from deploy.poller import DrillReport
from tests.utils.fake_api import FakeApi
from tests.utils.scripted import Answer, Scripted

API = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
DB = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=db"
BALANCER = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=balancer"
REPLICAS = ("api-a", "api-b", "api-c")


class Database:
    """The state the fake API answers from: up, or away (503)."""

    def __init__(self) -> None:
        self.up = True

    def behaviour(self, n: int) -> tuple[int, str | None]:
        # A random replica, as kube-proxy picks one per connection: the
        # poller's and the drill's own requests interleave, so a rotation
        # could show one of them the same replica forever.
        return (200, random.choice(REPLICAS)) if self.up else (503, None)


def target(api: FakeApi, cluster: Scripted) -> drill.DrillTarget:
    return drill.DrillTarget(
        Runner(cluster), Kubectl(), "visit-counter", api.url, 10, outage_seconds=1
    )


def kubectl(effects: dict[str, Callable[[], None]]) -> Scripted:
    """kubectl that finds the API in namespace visit-counter, its pods, and
    switches the fake API's behaviour by ``effects``."""
    answers: dict[str, Answer | list[Answer]] = {
        "get deployments": "visit-counter\n",
        "get pods": "\n".join(REPLICAS) + "\n",
    }
    return Scripted(answers, effects)


def later(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    return lambda: threading.Timer(seconds, action).start()


def test_a_clean_db_outage_passes_and_measures_the_recovery() -> None:
    db = Database()

    def down() -> None:
        db.up = False

    def up() -> None:
        db.up = True

    with FakeApi(db.behaviour) as api:
        cluster = kubectl({"--replicas=0": down, "--replicas=1": later(0.5, up)})
        report = drill.run_drill("db-outage", target(api, cluster))
    assert report.ok, report.summary()
    assert report.failures == {}
    assert report.statuses["503"] > 5
    assert report.statuses["200"] > 3
    assert report.requests == sum(report.statuses.values())
    assert report.recovery_seconds is not None
    # Measured from the scale-up (0.5 s before the fake answers 200 again),
    # not from the start of the outage (1 s earlier).
    assert 0.4 < report.recovery_seconds < 1.3
    assert sum(report.after.values()) >= report.statuses["200"]  # plus the waits' own
    assert report.lost == {}
    assert [c for c in cluster.lines if "scale" in c] == [
        "kubectl scale deployment/db --replicas=0 --namespace visit-counter",
        "kubectl scale deployment/db --replicas=1 --namespace visit-counter",
    ]


def test_a_503_without_retry_after_fails_the_db_outage() -> None:
    db = Database()

    def down() -> None:
        db.up = False

    def up() -> None:
        db.up = True

    with FakeApi(db.behaviour, retry_after=False) as api:
        report = drill.run_drill(
            "db-outage", target(api, kubectl({"--replicas=0": down, "--replicas=1": up}))
        )
    assert not report.ok
    assert set(report.failures) == {"503 without Retry-After"}
    assert "GET / never answered 503 with Retry-After in the outage" in report.problems
    assert report.summary().startswith("db-outage: FAILED: ")


def test_a_503_fails_the_rollout_drill() -> None:
    # Outside the database drills only 200 is allowed.
    db = Database()

    def blip() -> None:
        db.up = False
        threading.Timer(0.3, lambda: setattr(db, "up", True)).start()
        time.sleep(0.6)

    with FakeApi(db.behaviour) as api:
        report = drill.run_drill("rollout", target(api, kubectl({"rollout restart": blip})))
    assert not report.ok
    assert set(report.failures) == {"status 503"}


def test_pod_delete_deletes_the_pod_that_answered_and_notices_a_lost_count() -> None:
    with FakeApi(Database().behaviour) as api:
        api.visits.update({"api-a": 1000, "api-b": 1000, "api-c": 1000})

        def lose_counts() -> None:
            with api.lock:
                api.visits["api-b"] = 0

        cluster = kubectl({"delete pod": lose_counts})
        report = drill.run_drill("pod-delete", target(api, cluster))
    deletes = [c for c in cluster.lines if "delete pod" in c]
    # The visit that picked the victim was request 1 of the polled ones or
    # the drill's own: either way it named a replica that exists.
    assert len(deletes) == 1
    assert deletes[0].split()[3] in REPLICAS
    assert not report.ok
    assert set(report.lost) == {"api-b"}
    assert "counts went down: api-b" in report.summary()


@pytest.mark.parametrize("names", [["pod-delete", "nope"], ["everything"]])
def test_an_unknown_drill_is_refused_before_anything_runs(names: list[str]) -> None:
    cluster = Scripted()
    with pytest.raises(DeployError, match="unknown drill"):
        drill.run_drills(names, drill.DrillTarget(Runner(cluster)))
    assert cluster.calls == []


def test_a_failed_drill_fails_the_run_in_one_line() -> None:
    report = DrillReport("db-outage", failures={"timeout": 1})
    with pytest.raises(DeployError, match=r"^1 of 2 drill\(s\) failed: db-outage$"):
        drill.check_reports([DrillReport("rollout"), report], say=print)


def test_the_namespace_is_where_the_api_deployment_is() -> None:
    def answering(output: str) -> Runner:
        return Runner(Scripted({"get deployments": output}))

    assert drill.find_namespace(answering("visit-counter\n"), Kubectl()) == "visit-counter"
    with pytest.raises(DeployError, match="deploy first"):
        drill.find_namespace(answering(""), Kubectl())
    with pytest.raises(DeployError, match="namespaces a, b: pick one with --namespace"):
        drill.find_namespace(answering("b\na\n"), Kubectl())


def test_the_pod_deleted_is_the_replica_that_answered() -> None:
    pods = ["api-7d9-aaaaa", "api-7d9-bbbbb"]
    assert drill.pick_pod(pods, "api-7d9-bbbbb") == "api-7d9-bbbbb"
    # REPLICA_NAME overridden: any API pod will do.
    assert drill.pick_pod(pods, "custom-name") == "api-7d9-aaaaa"
    with pytest.raises(DeployError, match="is it deployed"):
        drill.pick_pod([], "api-7d9-aaaaa")


def test_the_dry_run_prints_each_drill_in_order() -> None:
    lines: list[str] = []
    target = drill.DrillTarget(Runner(print_only, say=lines.append), Kubectl(kubeconfig="kc"))
    reports = drill.run_drills(drill.DRILLS, target)
    assert [r.name for r in reports] == [
        "pod-delete",
        "rollout",
        "balancer-delete",
        "db-outage",
        "db-restart",
    ]
    assert all(r.dry_run and r.ok for r in reports)
    k, ns, url = "kubectl --kubeconfig kc", "--namespace default", "http://127.0.0.1:30001/"
    before = [
        f"GET {url}visits: the counts before",
        f"poll GET {url} every 50 ms (new connection each) until the drill ends",
    ]
    again = f"GET {url} until 3 distinct replicas answer again"
    status = "--timeout=180s " + ns
    assert [line for line in lines if not line.startswith("+ ")] == [
        "  (dry run: the drills run where the API's Deployment is; shown as default)",
        "== drill pod-delete",
        "pod-delete: dry run",
        "== drill rollout",
        "rollout: dry run",
        "== drill balancer-delete",
        "balancer-delete: dry run",
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
        f"{k} get pods --selector {BALANCER} --no-headers "
        f"--output custom-columns=NAME:.metadata.name {ns}",
        f"{k} delete pod {shlex.quote('<balancer-pod>')} --wait=false {ns}",
        f"{k} wait --for=delete {shlex.quote('pod/<balancer-pod>')} {status}",
        f"{k} rollout status deployment/balancer {status}",
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
