"""What ``invoke vagrant-deploy``, ``vagrant-destroy`` and ``vagrant-drill`` do.

The command sequences are plain data (lists of argv lists), so a dry run can
print exactly what a real run would execute, and tests can check them. The
checks a person would make by hand live here too: keep hitting the API until
three distinct replicas have answered (the original experiment's "hit another
pod", made automatic), and compare the counts before and after a drill.

Only the standard library: the HTTP client is ``http.client``, one new
connection per request, so the Service spreads requests over the pods.
"""

from __future__ import annotations

import http.client
import json
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# The host side of the VM's forwarded port (Vagrantfile: host 8000 -> guest
# NodePort 30001), the same URL Compose serves.
URL = "http://localhost:8000/"
REPLICAS = 3
API_SELECTOR = "app.kubernetes.io/name=visit-counter,app.kubernetes.io/component=api"
API_DEPLOYMENT = "deployment/api"
RUNNING = "running"

Argv = list[str]


class VagrantTaskError(RuntimeError):
    """A failed step; the message is meant for the user, one paragraph."""


# --- command sequences ------------------------------------------------------


def status_command() -> Argv:
    return ["vagrant", "status", "--machine-readable"]


def parse_state(machine_readable: str) -> str:
    """The machine's state from ``vagrant status --machine-readable``.

    Lines are ``timestamp,target,type,data...``; the one of type ``state``
    carries e.g. ``running``, ``poweroff``, ``not_created`` (VirtualBox) or
    ``shutoff`` (libvirt).
    """
    for line in machine_readable.splitlines():
        parts = line.split(",")
        if len(parts) >= 4 and parts[2] == "state":
            return parts[3]
    raise VagrantTaskError("could not read the VM's state from `vagrant status --machine-readable`")


def deploy_commands(state: str) -> list[Argv]:
    """``vagrant up`` boots (or creates) the VM and provisions it: the
    Vagrantfile's provisioner runs on every ``up``. A running VM gets the
    current tree (rsync is one-way and only automatic on ``up``) and is
    provisioned again, which rebuilds the image and re-applies ``k8s/``."""
    if state == RUNNING:
        return [["vagrant", "rsync"], ["vagrant", "provision"]]
    return [["vagrant", "up"]]


def destroy_commands() -> list[Argv]:
    return [["vagrant", "destroy", "--force"]]


def in_vm(*kubectl_args: str) -> Argv:
    """kubectl inside the VM, as root (k3s's admin kubeconfig is root's)."""
    return ["vagrant", "ssh", "--no-tty", "-c", shlex.join(["sudo", "kubectl", *kubectl_args])]


def list_api_pods_command() -> Argv:
    return in_vm(
        "get",
        "pods",
        "--all-namespaces",
        "--selector",
        API_SELECTOR,
        "--no-headers",
        "--output",
        "custom-columns=NAMESPACE:.metadata.namespace,NAME:.metadata.name",
    )


def parse_pods(output: str) -> list[tuple[str, str]]:
    """``(namespace, name)`` pairs from :func:`list_api_pods_command`'s output."""
    pods = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2:
            pods.append((fields[0], fields[1]))
    return pods


def pick_pod(pods: Sequence[tuple[str, str]], replica: str) -> tuple[str, str]:
    """The pod named like the replica that answered (REPLICA_NAME defaults to
    the pod's hostname, which is its name), else the first API pod."""
    if not pods:
        raise VagrantTaskError(
            f"no pod labelled {API_SELECTOR} in the VM: is it deployed? (invoke vagrant-deploy)"
        )
    for namespace, name in pods:
        if name == replica:
            return namespace, name
    return pods[0]


def drill_commands(namespace: str, pod: str) -> list[Argv]:
    return [
        in_vm("delete", "pod", pod, "--namespace", namespace),
        in_vm("rollout", "status", API_DEPLOYMENT, "--namespace", namespace, "--timeout=180s"),
        in_vm("get", "pods", "--namespace", namespace, "--selector", API_SELECTOR, "--output=wide"),
    ]


# --- the HTTP side ----------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    """One ``GET /`` answer in JSON: who answered, and every replica's count."""

    replica: str
    visits: dict[str, int]
    total: int


def _get(url: str, accept: str, timeout: float) -> tuple[int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http:// URL: {url}")
    path = parts.path or "/"
    # A new connection per request: kube-proxy picks a pod per connection.
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Accept": accept, "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _json_object(body: str, url: str) -> dict[str, object]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise VagrantTaskError(f"{url} answered something that is not JSON: {body[:80]!r}") from exc
    if not isinstance(data, dict):
        raise VagrantTaskError(f"{url} answered JSON that is not an object: {body[:80]!r}")
    return data


def _counts(value: object, url: str) -> dict[str, int]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in value.items()
    ):
        raise VagrantTaskError(f"{url} answered without a visits object of counts")
    return dict(value)


def visit(url: str = URL, timeout: float = 5.0) -> Visit:
    """``GET /`` as JSON: counts one visit. Raises OSError when nothing listens
    and VagrantTaskError on any answer but a 200 with the documented JSON."""
    status, body = _get(url, "application/json", timeout)
    if status != 200:
        raise VagrantTaskError(f"{url} answered {status}: {body.strip()[:120]}")
    data = _json_object(body, url)
    replica, total = data.get("replica"), data.get("total")
    if not isinstance(replica, str) or not isinstance(total, int):
        raise VagrantTaskError(f"{url} answered JSON without replica and total: {body[:80]!r}")
    return Visit(replica=replica, visits=_counts(data.get("visits"), url), total=total)


def counts(url: str = URL, timeout: float = 5.0) -> dict[str, int]:
    """``GET /visits``: every replica's count, counting nothing."""
    visits_url = url.rstrip("/") + "/visits"
    status, body = _get(visits_url, "application/json", timeout)
    if status != 200:
        raise VagrantTaskError(f"{visits_url} answered {status}: {body.strip()[:120]}")
    return _counts(_json_object(body, visits_url).get("visits"), visits_url)


@dataclass
class Survey:
    """The distinct replicas that answered, in the order they first did."""

    replicas: list[str] = field(default_factory=list)
    visits: dict[str, int] = field(default_factory=dict)
    requests: int = 0


def wait_for_replicas(
    url: str = URL,
    want: int = REPLICAS,
    timeout: float = 180.0,
    interval: float = 0.25,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> Survey:
    """Hit ``GET /`` until ``want`` distinct replicas have answered.

    Until the API answers at all (the port forward not up yet, pods not
    ready: connection refused or reset, 503), it keeps trying. Each new
    replica is reported as it first answers. Past ``timeout`` seconds it
    raises VagrantTaskError saying how many replicas it saw and the last
    error, so the user knows whether nothing answered or too few pods did.
    """
    deadline = clock() + timeout
    survey = Survey()
    last_error = ""
    while True:
        try:
            answer = visit(url)
        except (OSError, http.client.HTTPException, VagrantTaskError) as exc:
            last_error = str(exc) or type(exc).__name__
        else:
            survey.requests += 1
            survey.visits = answer.visits
            if answer.replica not in survey.replicas:
                survey.replicas.append(answer.replica)
                say(f"  replica {len(survey.replicas)}/{want} answered: {answer.replica}")
            if len(survey.replicas) >= want:
                return survey
        if clock() >= deadline:
            break
        sleep(interval)
    seen = ", ".join(survey.replicas) or "none"
    raise VagrantTaskError(
        f"timed out after {timeout:.0f}s: {len(survey.replicas)} of {want} replicas answered "
        f"{url} ({seen}) in {survey.requests} successful request(s)"
        + (f"; last error: {last_error}" if last_error else "")
        + ". Look inside the VM: vagrant ssh -c 'sudo kubectl get pods,services -A'"
    )


def lost_counts(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """Replicas whose count went down or disappeared: ``{name: (before, after)}``."""
    return {
        name: (count, after.get(name, 0))
        for name, count in before.items()
        if after.get(name, 0) < count
    }


def format_counts(visits: Mapping[str, int]) -> str:
    """The counts as the API's plain-text form lists them."""
    return "\n".join(f"- {name} {count} times" for name, count in visits.items())


# --- running it -------------------------------------------------------------


class Shell:
    """Prints each command, then runs it, or only prints it in a dry run."""

    def __init__(self, dry_run: bool = False, say: Callable[[str], None] = print) -> None:
        self.dry_run = dry_run
        self.say = say

    def run(self, argv: Argv) -> None:
        self.say(f"+ {shlex.join(argv)}")
        if self.dry_run:
            return
        # S603: the argv is built above from constants, never from a shell string.
        completed = subprocess.run(argv, check=False)  # noqa: S603
        if completed.returncode != 0:
            raise VagrantTaskError(
                f"`{shlex.join(argv)}` failed (exit status {completed.returncode})"
            )

    def query(self, argv: Argv, dry_run_answer: str) -> str:
        """Run a read-only command and return its output; a dry run returns
        ``dry_run_answer`` instead of running it."""
        self.say(f"+ {shlex.join(argv)}")
        if self.dry_run:
            return dry_run_answer
        completed = subprocess.run(argv, check=False, capture_output=True, text=True)  # noqa: S603
        if completed.returncode != 0:
            detail = completed.stderr.strip().splitlines()
            raise VagrantTaskError(
                f"`{shlex.join(argv)}` failed (exit status {completed.returncode})"
                + (f": {detail[-1]}" if detail else "")
            )
        return completed.stdout

    def check(self, description: str) -> bool:
        """Announce an HTTP check; True when it should really be made."""
        self.say(f"+ {description}")
        return not self.dry_run


def deploy(
    shell: Shell,
    state: str = "",
    url: str = URL,
    timeout: float = 180.0,
) -> Survey | None:
    """Bring the VM up (or re-provision it), then wait for three replicas."""
    if not state:
        state = parse_state(
            shell.query(status_command(), dry_run_answer="0,default,state,not_created\n")
        )
        if shell.dry_run:
            shell.say("  (dry run: assuming no VM yet; --state running previews the other path)")
    for argv in deploy_commands(state):
        shell.run(argv)
    if not shell.check(
        f"GET {url} until {REPLICAS} distinct replicas answer (up to {timeout:.0f}s)"
    ):
        return None
    survey = wait_for_replicas(url, REPLICAS, timeout, say=shell.say)
    shell.say(f"{REPLICAS} replicas answer on {url} (after {survey.requests} requests). Counts:")
    shell.say(format_counts(survey.visits))
    return survey


def destroy(shell: Shell) -> None:
    for argv in destroy_commands():
        shell.run(argv)


def drill(shell: Shell, url: str = URL, timeout: float = 180.0) -> None:
    """Delete the API pod that answers, show Kubernetes replacing it, and
    check that no count was lost."""
    victim_replica = "<replica-that-answered>"
    before: dict[str, int] = {}
    if shell.check(f"GET {url} and GET {url.rstrip('/')}/visits: who answers, and the counts"):
        victim_replica = visit(url).replica
        before = counts(url)
        shell.say(f"  {victim_replica} answered. Counts before:")
        shell.say(format_counts(before))

    pods = parse_pods(
        shell.query(list_api_pods_command(), dry_run_answer=f"default {victim_replica}\n")
    )
    namespace, pod = pick_pod(pods, victim_replica)
    for argv in drill_commands(namespace, pod):
        shell.run(argv)

    if not shell.check(
        f"GET {url} until {REPLICAS} distinct replicas answer again, then compare the counts"
    ):
        return
    survey = wait_for_replicas(url, REPLICAS, timeout, say=shell.say)
    if pod in survey.replicas:
        raise VagrantTaskError(f"{pod} still answers after it was deleted")
    after = counts(url)
    lost = lost_counts(before, after)
    if lost:
        detail = ", ".join(f"{name}: {b} -> {a}" for name, (b, a) in lost.items())
        raise VagrantTaskError(f"counts went down after the drill: {detail}")
    replacement = [name for name in survey.replicas if name not in before]
    shell.say(
        f"Kubernetes replaced {pod} with {', '.join(replacement) or 'a new pod'}; "
        f"every count kept ({sum(before.values())} visits before, {sum(after.values())} now):"
    )
    shell.say(format_counts(after))
