"""``invoke k8s-drill``: the original experiment's drills, against any cluster.

Each drill runs under :class:`deploy.poller.Poller` (``GET /`` every 50 ms)
and returns a :class:`DrillReport`: requests sent, failed requests by reason,
every outcome seen, the counts before and after, and for the database drills
how long until ``GET /`` answered ``200`` again.

- ``pod-delete``: delete the API pod that answered; three replicas answer again.
- ``rollout``: ``kubectl rollout restart deployment/api``.
- ``db-outage``: scale the database to 0 for about 15 s (``GET /`` answers
  ``503`` with ``Retry-After``, ``GET /healthz`` ``200``), then back to 1:
  ``GET /`` must answer ``200`` within 30 s.
- ``db-restart``: delete the database pod; the counts live on the volume.

No drill may lose a count. kubectl goes through a :class:`Kubectl` runner,
so the same drills run with plain kubectl or inside the Vagrant VM.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from deploy import service
from deploy.poller import DrillReport, Poller, Sample, error_kind, tally
from deploy.service import REPLICAS, ServiceError, lost_counts
from deploy.shell import Kubectl, Shell, TaskError, exit_status

DRILLS = ("pod-delete", "rollout", "db-outage", "db-restart")
DEFAULT_URL = "http://127.0.0.1:30001/"
API_SELECTOR = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
DB_SELECTOR = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=db"
OUTAGE_SECONDS = 15.0
RECOVERY_LIMIT = 30.0


class DrillError(TaskError):
    """A drill could not be run, or failed; one line for the user."""


@dataclass(frozen=True)
class DrillTarget:
    """Where the drills run. An empty ``namespace`` is looked up: the one
    namespace holding the API's Deployment."""

    shell: Shell
    kubectl: Kubectl = field(default_factory=Kubectl)
    namespace: str = ""
    url: str = DEFAULT_URL
    timeout: float = 180.0  # each wait: a rollout, three replicas, recovery
    outage_seconds: float = OUTAGE_SECONDS

    def k(self, *args: str) -> list[str]:
        """kubectl with this target's namespace."""
        return self.kubectl(*args, "--namespace", self.namespace)


def find_namespace(shell: Shell, kubectl: Kubectl) -> str:
    columns = ("--no-headers", "--output", "custom-columns=NAMESPACE:.metadata.namespace")
    listing = kubectl(
        "get", "deployments", "--all-namespaces", "--selector", API_SELECTOR, *columns
    )
    names = sorted(set(shell.query(listing, dry_run_answer="default\n").split()))
    if not names:
        raise DrillError(f"no Deployment labelled {API_SELECTOR}: deploy first (invoke k8s-deploy)")
    if len(names) > 1:
        raise DrillError(
            f"the API runs in namespaces {', '.join(names)}: pick one with --namespace"
        )
    return names[0]


def pick_pod(pods: Sequence[str], replica: str) -> str:
    """The pod named like the replica that answered (REPLICA_NAME is the
    pod's name), else the first API pod."""
    if not pods:
        raise DrillError(f"no pod labelled {API_SELECTOR}: is it deployed? (invoke k8s-deploy)")
    return replica if replica in pods else pods[0]


@contextmanager
def _polling(target: DrillTarget) -> Iterator[Poller]:
    poller = Poller(target.url, max_seconds=3 * target.timeout + target.outage_seconds + 60)
    if not target.shell.check(
        f"poll GET {target.url} every 50 ms (new connection each) until the drill ends"
    ):
        yield poller
        return
    with poller:
        yield poller


def _run_polled(
    target: DrillTarget, name: str, allow_503: bool, action: Callable[[Poller, DrillReport], None]
) -> DrillReport:
    """Counts before, ``action`` under the poller, three replicas again, counts after."""
    shell, url = target.shell, target.url
    report = DrillReport(name, dry_run=shell.dry_run)
    shell.say(f"== drill {name}")
    if shell.check(f"GET {service.path_url(url, '/visits')}: the counts before"):
        report.before = service.counts(url)
    with _polling(target) as poller:
        action(poller, report)
        if shell.check(f"GET {url} until {REPLICAS} distinct replicas answer again"):
            survey = service.wait_for_replicas(url, REPLICAS, target.timeout, say=shell.say)
            report.replicas_after = survey.replicas
    if shell.dry_run:
        return report
    report.record(tally(poller.samples, allow_503))
    report.after = service.counts(url)
    report.lost = lost_counts(report.before, report.after)
    return report


def _rollout_status(target: DrillTarget, deployment: str) -> None:
    target.shell.run(target.k("rollout", "status", deployment, f"--timeout={target.timeout:.0f}s"))


def _first_ok(target: DrillTarget, poller: Poller, since: float) -> Sample | None:
    deadline = time.monotonic() + target.timeout
    while (first := poller.first_ok_after(since)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return first


def pod_delete(target: DrillTarget) -> DrillReport:
    shell = target.shell

    def action(poller: Poller, report: DrillReport) -> None:
        victim = "<replica-that-answered>"
        if shell.check(f"GET {target.url}: which replica answers"):
            victim = service.visit(target.url).replica
        columns = ("--no-headers", "--output", "custom-columns=NAME:.metadata.name")
        listing = target.k("get", "pods", "--selector", API_SELECTOR, *columns)
        pod = pick_pod(shell.query(listing, dry_run_answer=f"{victim}\n").split(), victim)
        shell.run(target.k("delete", "pod", pod))
        _rollout_status(target, "deployment/api")
        shell.run(target.k("get", "pods", "--selector", API_SELECTOR, "--output=wide"))
        deleted.append(pod)

    deleted: list[str] = []
    report = _run_polled(target, "pod-delete", False, action)
    if set(deleted) & set(report.replicas_after):
        report.problems.append(f"{deleted[0]} still answered after it was deleted")
    return report


def rollout(target: DrillTarget) -> DrillReport:
    def action(poller: Poller, report: DrillReport) -> None:
        shell = target.shell
        columns = ("--no-headers", "--output", "custom-columns=NAME:.metadata.name")
        listing = target.k("get", "pods", "--selector", API_SELECTOR, *columns)
        old_pods = shell.query(listing, dry_run_answer="<api-pods>\n").split()
        shell.run(target.k("rollout", "restart", "deployment/api"))
        _rollout_status(target, "deployment/api")
        # The rollout is "complete" as soon as the last new pod is ready, when
        # the last old pod has only begun to terminate: keep polling until
        # every old pod is gone, so its whole shutdown is under the client.
        wait = f"--timeout={target.timeout:.0f}s"
        shell.run(target.k("wait", "--for=delete", *(f"pod/{pod}" for pod in old_pods), wait))

    return _run_polled(target, "rollout", False, action)


def db_outage(target: DrillTarget) -> DrillReport:
    shell, url = target.shell, target.url

    def action(poller: Poller, report: DrillReport) -> None:
        shell.run(target.k("scale", "deployment/db", "--replicas=0"))
        wait = f"--timeout={target.timeout:.0f}s"
        shell.run(target.k("wait", "--for=delete", "pod", "--selector", DB_SELECTOR, wait))
        down_at = poller.now()
        if shell.check(
            f"hold the database down {target.outage_seconds:.0f}s: GET {url} must answer 503 "
            f"with Retry-After, GET {service.path_url(url, '/healthz')} 200"
        ):
            healthz = _hold(service.path_url(url, "/healthz"), target.outage_seconds)
            if set(healthz) != {"200"}:
                report.problems.append(f"GET /healthz during the outage: {_counted(healthz)}")
            outage = [s for s in poller.samples if s.at >= down_at]
            if not any(s.status == 503 and s.retry_after for s in outage):
                report.problems.append("GET / never answered 503 with Retry-After in the outage")
        shell.run(target.k("scale", "deployment/db", "--replicas=1"))
        _recovery(target, poller, report, poller.now(), RECOVERY_LIMIT)
        _rollout_status(target, "deployment/db")

    return _run_polled(target, "db-outage", True, action)


def db_restart(target: DrillTarget) -> DrillReport:
    def action(poller: Poller, report: DrillReport) -> None:
        target.shell.run(target.k("delete", "pod", "--selector", DB_SELECTOR))
        back_at = poller.now()
        _rollout_status(target, "deployment/db")
        _recovery(target, poller, report, back_at, None)

    return _run_polled(target, "db-restart", True, action)


def _recovery(
    target: DrillTarget, poller: Poller, report: DrillReport, since: float, limit: float | None
) -> None:
    within = f" (within {limit:.0f}s)" if limit else ""
    if not target.shell.check(f"GET {target.url} until it answers 200 again{within}"):
        return
    first = _first_ok(target, poller, since)
    if first is None:
        report.problems.append(f"GET / did not answer 200 within {target.timeout:.0f}s")
        return
    report.recovery_seconds = first.at - since
    if limit is not None and report.recovery_seconds > limit:
        report.problems.append(f"200 again only after {report.recovery_seconds:.1f}s")


def _hold(healthz_url: str, seconds: float) -> dict[str, int]:
    """Wait ``seconds``, asking ``GET /healthz`` about once a second."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen[str(service.fetch(healthz_url, timeout=5).status)] += 1
        except OSError as exc:
            seen[error_kind(exc)] += 1
        time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
    return dict(seen)


def _counted(outcomes: dict[str, int]) -> str:
    return ", ".join(f"{outcome}: {n}" for outcome, n in sorted(outcomes.items()))


RUNNERS: dict[str, Callable[[DrillTarget], DrillReport]] = {
    "pod-delete": pod_delete,
    "rollout": rollout,
    "db-outage": db_outage,
    "db-restart": db_restart,
}


def run_drills(names: Sequence[str], target: DrillTarget) -> list[DrillReport]:
    """Run the named drills in order; every report, failed or not."""
    unknown = [name for name in names if name not in RUNNERS]
    if unknown:
        raise DrillError(f"unknown drill(s) {', '.join(unknown)}: choose from {', '.join(DRILLS)}")
    if not target.namespace:
        namespace = find_namespace(target.shell, target.kubectl)
        target = dataclasses.replace(target, namespace=namespace)
    reports = []
    for name in names:
        try:
            reports.append(RUNNERS[name](target))
        except ServiceError as exc:
            raise DrillError(f"{name}: {exc}") from exc
        target.shell.say(reports[-1].summary())
    return reports


def check_reports(reports: Sequence[DrillReport], say: Callable[[str], None] = print) -> None:
    """One summary line per drill; DrillError when any failed."""
    for report in reports:
        say(report.summary())
    failed = [report.name for report in reports if not report.ok]
    if failed:
        raise DrillError(f"{len(failed)} of {len(reports)} drill(s) failed: {', '.join(failed)}")


def drill_names(comma_separated: str) -> list[str]:
    """The drills a command line names, in its order; every drill when none."""
    names = [name.strip() for name in comma_separated.split(",") if name.strip()]
    return names or list(DRILLS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m deploy.drill", description="Run the drills against the deployed API."
    )
    add = parser.add_argument
    add("--drill", default="", help=f"comma-separated, from {', '.join(DRILLS)} (default: all)")
    add("--kubeconfig", default="", help="kubeconfig file (default: kubectl's own choice)")
    add("--kubectl", default="kubectl", help="kubectl command, e.g. 'k3s kubectl'")
    add("--namespace", default="", help="default: where the API's Deployment is")
    add("--url", default=DEFAULT_URL, help=f"where the API answers (default {DEFAULT_URL})")
    add("--timeout", type=float, default=180.0, help="seconds for each wait (default 180)")
    add("--dry-run", action="store_true", help="print the commands without running them")
    args = parser.parse_args(argv)

    def drill() -> None:
        target = DrillTarget(
            Shell(dry_run=args.dry_run),
            Kubectl.from_command_line(args.kubectl, args.kubeconfig),
            args.namespace,
            args.url,
            args.timeout,
        )
        check_reports(run_drills(drill_names(args.drill), target))

    return exit_status("k8s-drill", drill)


if __name__ == "__main__":
    sys.exit(main())
