"""``invoke k8s-drill``: the original experiment's drills, against any cluster.

Each drill runs under :class:`deploy.poller.Poller` (``GET /`` every 50 ms).
No drill may fail a request (a ``503`` with ``Retry-After`` is the database
drills' allowed answer) or lose a count; after each, three replicas answer.

- ``pod-delete``: delete the API pod that answered.
- ``rollout``: ``kubectl rollout restart deployment/api``.
- ``balancer-delete``: delete a balancer pod; the others keep answering.
- ``db-outage``: the database scaled to 0 for about 15 s (``GET /`` answers
  ``503`` with ``Retry-After``, ``GET /healthz`` ``200``), then back to 1:
  ``GET /`` must answer ``200`` within 30 s.
- ``db-restart``: delete the database pod; the counts live on the volume.

In a dry run nothing answers: the namespace shown is ``default`` and an
argument a real run takes from an answer is shown as ``<what it is>``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from deploy import api_client, options
from deploy.api_client import DEFAULT_URL, REPLICAS, path_url
from deploy.commands import DeployError, Kubectl, Runner, exit_status
from deploy.k8s_deploy import API_SELECTOR, APP_SELECTOR
from deploy.options import Option
from deploy.poller import DrillReport, Poller, lost_counts, outcomes_over

BALANCER_SELECTOR = f"{APP_SELECTOR},app.kubernetes.io/component=balancer"
DB_SELECTOR = f"{APP_SELECTOR},app.kubernetes.io/component=db"
OUTAGE_SECONDS = 15.0
RECOVERY_LIMIT = 30.0


@dataclass(frozen=True)
class DrillTarget:
    """Where the drills run. An empty ``namespace`` is looked up: the one
    namespace holding the API's Deployment."""

    runner: Runner
    kubectl: Kubectl = field(default_factory=Kubectl)
    namespace: str = ""
    url: str = DEFAULT_URL
    timeout: float = 180.0  # each wait: a rollout, three replicas, recovery
    outage_seconds: float = OUTAGE_SECONDS

    def run(self, *args: str) -> None:
        self.runner.run(self.kubectl(*args, "--namespace", self.namespace))

    def wait_flag(self) -> str:
        return f"--timeout={self.timeout:.0f}s"

    def pods(self, selector: str, dry_run_name: str) -> list[str]:
        """The names of the pods ``selector`` picks; in a dry run, a stand-in."""
        columns = ("--no-headers", "--output", "custom-columns=NAME:.metadata.name")
        listing = self.kubectl("get", "pods", "--selector", selector, *columns)
        found = self.runner.output([*listing, "--namespace", self.namespace]).split()
        return found or ([dry_run_name] if self.runner.dry_run else [])

    def rollout_status(self, deployment: str) -> None:
        self.run("rollout", "status", deployment, self.wait_flag())


def find_namespace(runner: Runner, kubectl: Kubectl) -> str:
    columns = ("--no-headers", "--output", "custom-columns=NAMESPACE:.metadata.namespace")
    listing = kubectl("get", "deployments", "--all-namespaces", "--selector", API_SELECTOR)
    names = sorted(set(runner.output([*listing, *columns]).split()))
    if runner.dry_run:
        runner.note("(dry run: the drills run where the API's Deployment is; shown as default)")
        return "default"
    if not names:
        raise DeployError(
            f"no Deployment labelled {API_SELECTOR}: deploy first (invoke k8s-deploy)"
        )
    if len(names) > 1:
        raise DeployError(
            f"the API runs in namespaces {', '.join(names)}: pick one with --namespace"
        )
    return names[0]


def pick_pod(pods: Sequence[str], replica: str) -> str:
    """The pod named like the replica that answered (REPLICA_NAME is the
    pod's name), else the first API pod."""
    if not pods:
        raise DeployError(f"no pod labelled {API_SELECTOR}: is it deployed? (invoke k8s-deploy)")
    return replica if replica in pods else pods[0]


def pod_delete(target: DrillTarget, poller: Poller, report: DrillReport) -> None:
    answered = target.runner.act(
        f"GET {target.url}: which replica answers", lambda: api_client.visit(target.url).replica
    )
    pod = pick_pod(target.pods(API_SELECTOR, "<replica-that-answered>"), answered or "")
    target.run("delete", "pod", pod)
    target.rollout_status("deployment/api")
    target.run("get", "pods", "--selector", API_SELECTOR, "--output=wide")
    report.deleted = pod


def rollout(target: DrillTarget, poller: Poller, report: DrillReport) -> None:
    old_pods = target.pods(API_SELECTOR, "<api-pods>")
    target.run("rollout", "restart", "deployment/api")
    target.rollout_status("deployment/api")
    # The rollout is "complete" as soon as the last new pod is ready, when
    # the last old pod has only begun to terminate: keep polling until every
    # old pod is gone, so its whole shutdown is under the client.
    target.run("wait", "--for=delete", *(f"pod/{p}" for p in old_pods), target.wait_flag())


def balancer_delete(target: DrillTarget, poller: Poller, report: DrillReport) -> None:
    pods = target.pods(BALANCER_SELECTOR, "<balancer-pod>")
    if not pods:
        raise DeployError(f"no pod labelled {BALANCER_SELECTOR}: is it deployed?")
    # --wait=false, then a wait for its deletion: the poller covers the whole
    # shutdown (preStop, HAProxy finishing what is in flight).
    target.run("delete", "pod", pods[0], "--wait=false")
    target.run("wait", "--for=delete", f"pod/{pods[0]}", target.wait_flag())
    target.rollout_status("deployment/balancer")


def db_outage(target: DrillTarget, poller: Poller, report: DrillReport) -> None:
    url, healthz_url = target.url, path_url(target.url, "/healthz")
    target.run("scale", "deployment/db", "--replicas=0")
    target.run("wait", "--for=delete", "pod", "--selector", DB_SELECTOR, target.wait_flag())
    down_at = poller.now()

    def hold() -> None:
        healthz = sorted(outcomes_over(healthz_url, target.outage_seconds).items())
        if [outcome for outcome, _ in healthz] != ["200"]:
            seen = ", ".join(f"{outcome}: {n}" for outcome, n in healthz)
            report.problems.append(f"GET /healthz during the outage: {seen}")
        if not any(s.status == 503 and s.retry_after for s in poller.samples if s.at >= down_at):
            report.problems.append("GET / never answered 503 with Retry-After in the outage")

    target.runner.act(
        f"hold the database down {target.outage_seconds:.0f}s: GET {url} must answer 503 "
        f"with Retry-After, GET {healthz_url} 200",
        hold,
    )
    target.run("scale", "deployment/db", "--replicas=1")
    _recovery(target, poller, report, poller.now(), RECOVERY_LIMIT)
    target.rollout_status("deployment/db")


def db_restart(target: DrillTarget, poller: Poller, report: DrillReport) -> None:
    target.run("delete", "pod", "--selector", DB_SELECTOR)
    back_at = poller.now()
    target.rollout_status("deployment/db")
    _recovery(target, poller, report, back_at, None)


def _recovery(
    target: DrillTarget, poller: Poller, report: DrillReport, since: float, limit: float | None
) -> None:
    def measure() -> None:
        first = poller.first_ok_within(since, target.timeout)
        if first is None:
            report.problems.append(f"GET / did not answer 200 within {target.timeout:.0f}s")
            return
        report.recovery_seconds = first.at - since
        if limit is not None and report.recovery_seconds > limit:
            report.problems.append(f"200 again only after {report.recovery_seconds:.1f}s")

    within = f" (within {limit:.0f}s)" if limit else ""
    target.runner.act(f"GET {target.url} until it answers 200 again{within}", measure)


# Each drill, and whether a 503 with Retry-After is an allowed answer in it.
RUNNERS: dict[str, tuple[Callable[[DrillTarget, Poller, DrillReport], None], bool]] = {
    "pod-delete": (pod_delete, False),
    "rollout": (rollout, False),
    "balancer-delete": (balancer_delete, False),
    "db-outage": (db_outage, True),
    "db-restart": (db_restart, True),
}


def run_drill(name: str, target: DrillTarget) -> DrillReport:
    """Counts before, the drill under the poller, three replicas again, counts after."""
    (action, allow_503), runner, url = RUNNERS[name], target.runner, target.url
    report = DrillReport(name, dry_run=runner.dry_run)
    runner.say(f"== drill {name}")
    visits = path_url(url, "/visits")
    report.before = (
        runner.act(f"GET {visits}: the counts before", lambda: api_client.counts(url)) or {}
    )
    poller = Poller(url, max_seconds=3 * target.timeout + target.outage_seconds + 60)
    runner.act(
        f"poll GET {url} every 50 ms (new connection each) until the drill ends", poller.start
    )
    try:
        action(target, poller, report)
        survey = runner.act(
            f"GET {url} until {REPLICAS} distinct replicas answer again",
            lambda: api_client.wait_for_replicas(url, REPLICAS, target.timeout, say=runner.say),
        )
    finally:
        poller.stop()
    if survey is None:  # a dry run: nothing was measured
        return report
    report.replicas_after = survey.replicas
    if report.deleted in report.replicas_after:
        report.problems.append(f"{report.deleted} still answered after it was deleted")
    report.record(poller.samples, allow_503)
    report.after = api_client.counts(url)
    report.lost = lost_counts(report.before, report.after)
    return report


DRILLS = tuple(RUNNERS)
DRILL = Option("drill", "", f"comma-separated drills, from {', '.join(DRILLS)} (default: all)")
TIMEOUT = Option("timeout", 180, "seconds for each wait (a rollout, three replicas, recovery)")
OPTIONS = (
    DRILL,
    options.KUBECONFIG,
    options.KUBECTL,
    Option("namespace", "", "namespace (default: the one where the API's Deployment is)"),
    options.URL,
    TIMEOUT,
    options.DRY_RUN,
)


def run_drills(names: Sequence[str], target: DrillTarget) -> list[DrillReport]:
    unknown = [name for name in names if name not in RUNNERS]
    if unknown:
        raise DeployError(f"unknown drill(s) {', '.join(unknown)}: choose from {', '.join(DRILLS)}")
    if not target.namespace:
        namespace = find_namespace(target.runner, target.kubectl)
        target = dataclasses.replace(target, namespace=namespace)
    reports = []
    for name in names:
        try:
            reports.append(run_drill(name, target))
        except DeployError as exc:
            raise DeployError(f"{name}: {exc}") from exc
        target.runner.say(reports[-1].summary())
    return reports


def check_reports(reports: Sequence[DrillReport], say: Callable[[str], None] = print) -> None:
    """One summary line per drill; DeployError when any failed."""
    for report in reports:
        say(report.summary())
    failed = [report.name for report in reports if not report.ok]
    if failed:
        raise DeployError(f"{len(failed)} of {len(reports)} drill(s) failed: {', '.join(failed)}")


def drill_names(comma_separated: str) -> list[str]:
    """The drills a command line names, in its order; every drill when none."""
    return [name.strip() for name in comma_separated.split(",") if name.strip()] or list(DRILLS)


def main(argv: Sequence[str] | None = None) -> int:
    description = "Run the drills against the deployed API."
    args = options.parser("python3 -m deploy.drill", description, OPTIONS).parse_args(argv)

    def drill() -> None:
        kubectl = Kubectl.from_command_line(args.kubectl, args.kubeconfig)
        runner = Runner.for_run(args.dry_run)
        target = DrillTarget(runner, kubectl, args.namespace, args.url, args.timeout)
        check_reports(run_drills(drill_names(args.drill), target))

    return exit_status("k8s-drill", drill)


if __name__ == "__main__":
    sys.exit(main())
