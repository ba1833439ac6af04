"""What ``invoke vagrant-deploy``, ``vagrant-destroy`` and ``vagrant-drill`` do.

The VM's own commands (boot, sync, provision, destroy) are plain data (lists
of argv lists), so a dry run prints exactly what a real run executes, and
tests check them. Inside the VM, provisioning deploys with the same code as
any cluster (``python3 -m deploy.k8s_deploy``); from the host, the checks
are the shared ones in :mod:`deploy.service` (three replicas answer) and the
drills are :mod:`deploy.drill`'s, with kubectl run in the VM over
``vagrant ssh``.
"""

from __future__ import annotations

from collections.abc import Sequence

from deploy.drill import DRILLS, DrillTarget, check_reports, run_drills
from deploy.poller import DrillReport
from deploy.service import REPLICAS, ServiceError, Survey, format_counts, wait_for_replicas
from deploy.shell import VM_KUBECTL, Argv, Shell, TaskError

# The host side of the VM's forwarded port (Vagrantfile: host 8000 -> guest
# NodePort 30001), the same URL Compose serves.
URL = "http://localhost:8000/"
RUNNING = "running"
LOOK_INSIDE = "Look inside the VM: vagrant ssh -c 'sudo kubectl get pods,services -A'"


class VagrantTaskError(TaskError):
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


# --- running it -------------------------------------------------------------


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
    try:
        survey = wait_for_replicas(url, REPLICAS, timeout, say=shell.say, hint=LOOK_INSIDE)
    except ServiceError as exc:
        raise VagrantTaskError(str(exc)) from exc
    shell.say(f"{REPLICAS} replicas answer on {url} (after {survey.requests} requests). Counts:")
    shell.say(format_counts(survey.visits))
    return survey


def destroy(shell: Shell) -> None:
    for argv in destroy_commands():
        shell.run(argv)


def drill(
    shell: Shell,
    names: Sequence[str] = DRILLS,
    url: str = URL,
    timeout: float = 180.0,
) -> list[DrillReport]:
    """The drills of ``invoke k8s-drill``, against the VM: kubectl runs in
    the VM over ``vagrant ssh``, the polling client on the host."""
    target = DrillTarget(shell, VM_KUBECTL, url=url, timeout=timeout)
    reports = run_drills(names, target)
    check_reports(reports, say=shell.say)
    return reports
