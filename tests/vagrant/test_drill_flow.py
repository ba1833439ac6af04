"""The drills end to end on the client side: the polling client against a
loopback server that answers like the API, and kubectl replaced by a scripted
executor whose commands switch that server's behaviour (the database goes
away, a pod is deleted). What is under test is the drill's bookkeeping: what
counts as a failure, the recovery time, lost counts."""

from __future__ import annotations

import random
import shlex
import threading
import time
from collections.abc import Callable, Sequence

import pytest

from deploy import drill
from deploy.poller import Poller, tally
from deploy.shell import Argv, Completed, Kubectl, Shell
from localservers.ports import free_port
from tests.utils.fake_api import FakeApi

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


def scripted(
    calls: list[str], answers: dict[str, str], effects: dict[str, Callable[[], None]]
) -> Callable[[Sequence[Argv], str | None, bool], Completed]:
    """An executor that records each command line, runs the effect of the
    first key found in it and answers the output of the first key found."""

    def execute(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
        line = " | ".join(shlex.join(argv) for argv in stages)
        calls.append(line)
        for key, effect in effects.items():
            if key in line:
                effect()
                break
        return Completed(0, next((out for key, out in answers.items() if key in line), ""))

    return execute


def target(
    api: FakeApi, calls: list[str], effects: dict[str, Callable[[], None]]
) -> drill.DrillTarget:
    answers = {"get deployments": "visit-counter\n", "get pods": "\n".join(REPLICAS) + "\n"}
    shell = Shell(say=print, execute=scripted(calls, answers, effects))
    return drill.DrillTarget(shell, Kubectl(), "visit-counter", api.url, 10, outage_seconds=1)


def later(seconds: float, action: Callable[[], None]) -> Callable[[], None]:
    return lambda: threading.Timer(seconds, action).start()


def test_a_clean_db_outage_passes_and_measures_the_recovery() -> None:
    db = Database()
    calls: list[str] = []

    def down() -> None:
        db.up = False

    def up() -> None:
        db.up = True

    with FakeApi(db.behaviour) as api:
        effects = {"--replicas=0": down, "--replicas=1": later(0.5, up)}
        report = drill.db_outage(target(api, calls, effects))
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
    assert [c for c in calls if "scale" in c] == [
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
        report = drill.db_outage(target(api, [], {"--replicas=0": down, "--replicas=1": up}))
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
        report = drill.rollout(target(api, [], {"rollout restart": blip}))
    assert not report.ok
    assert set(report.failures) == {"status 503"}


def test_pod_delete_deletes_the_pod_that_answered_and_notices_a_lost_count() -> None:
    calls: list[str] = []
    with FakeApi(Database().behaviour) as api:
        api.visits.update({"api-a": 1000, "api-b": 1000, "api-c": 1000})

        def lose_counts() -> None:
            with api.lock:
                api.visits["api-b"] = 0

        report = drill.pod_delete(target(api, calls, {"delete pod": lose_counts}))
    deletes = [c for c in calls if "delete pod" in c]
    # The visit that picked the victim was request 1 of the polled ones or
    # the drill's own: either way it named a replica that exists.
    assert len(deletes) == 1
    assert deletes[0].split()[3] in REPLICAS
    assert not report.ok
    assert set(report.lost) == {"api-b"}
    assert "counts went down: api-b" in report.summary()


def test_the_poller_records_refused_connections_as_failures() -> None:
    with Poller(f"http://127.0.0.1:{free_port()}/", interval=0.02) as poller:
        time.sleep(0.3)
    counted = tally(poller.samples, allow_503=True)
    assert counted.requests >= 5
    assert counted.failures == {"connection refused": counted.requests}


def test_the_poller_sends_one_connection_per_request_at_its_interval() -> None:
    with FakeApi(Database().behaviour) as api:
        with Poller(api.url, interval=0.05) as poller:
            time.sleep(0.5)
        samples = poller.samples
    assert 6 <= len(samples) <= 12
    assert len(api.connections) == len(samples)
    assert set(api.accept_headers) == {"application/json"}


@pytest.mark.parametrize("names", [["pod-delete", "nope"], ["everything"]])
def test_an_unknown_drill_is_refused_before_anything_runs(names: list[str]) -> None:
    calls: list[str] = []
    shell = Shell(execute=scripted(calls, {}, {}))
    with pytest.raises(drill.DrillError, match="unknown drill"):
        drill.run_drills(names, drill.DrillTarget(shell))
    assert calls == []
