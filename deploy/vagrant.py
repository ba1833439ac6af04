"""What ``invoke vagrant-deploy``, ``vagrant-destroy`` and ``vagrant-drill`` do.

The VM's own commands (boot, sync, provision, destroy) are plain data (lists
of argv lists), so a dry run prints exactly what a real run executes, and
tests check them. Inside the VM, provisioning deploys with the same code as
any cluster (``python3 -m deploy.k8s_deploy``). ``vagrant-deploy`` then
leaves a kubeconfig for the VM's cluster on the host, ``.vagrant/kubeconfig``
(the API server's port is forwarded to 127.0.0.1), so kubectl, ``invoke
k8s-deploy`` and ``invoke k8s-drill`` work against the VM from the host as
against any cluster; ``vagrant-drill`` is ``k8s-drill`` with that kubeconfig.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from deploy import k8s_deploy
from deploy.drill import DRILLS, DrillTarget, check_reports, drill_names, run_drills
from deploy.poller import DrillReport
from deploy.service import REPLICAS, ServiceError, Survey, format_counts, wait_for_replicas
from deploy.shell import Argv, Kubectl, Shell, TaskError, exit_status

# The host side of the VM's forwarded port (Vagrantfile: host 8000 -> guest
# NodePort 30001), the same URL Compose serves.
URL = "http://localhost:8000/"
RUNNING = "running"
# The host side of the VM's forwarded API server port (Vagrantfile: host
# 127.0.0.1:26443 -> guest 6443), and where the host's kubeconfig goes
# (.vagrant/ is Vagrant's own, gitignored, and never synced into the VM).
API_PORT = 26443
KUBECONFIG = Path(".vagrant/kubeconfig")
# k3s writes its admin kubeconfig for the VM's own loopback.
K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
_K3S_SERVER = re.compile(r"^([ \t]*server:[ \t]*)https://127\.0\.0\.1:6443[ \t]*$", re.MULTILINE)
LOOK_INSIDE = f"Look inside the VM: kubectl --kubeconfig {KUBECONFIG} get pods,services -A"


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


def kubeconfig_command() -> Argv:
    return ["vagrant", "ssh", "--no-tty", "-c", f"sudo cat {K3S_KUBECONFIG}"]


def host_kubeconfig(k3s_yaml: str, port: int = API_PORT) -> str:
    """k3s's kubeconfig, pointed at the host's end of the forwarded port (the
    API server's certificate names 127.0.0.1, so TLS still verifies)."""
    rewritten, found = _K3S_SERVER.subn(rf"\g<1>https://127.0.0.1:{port}", k3s_yaml)
    if found != 1:
        raise VagrantTaskError(
            f"{K3S_KUBECONFIG} in the VM has no `server: https://127.0.0.1:6443` line to point "
            f"at 127.0.0.1:{port}"
        )
    return rewritten


def write_kubeconfig(shell: Shell, path: Path = KUBECONFIG) -> None:
    """Copy the VM's kubeconfig to the host, readable by this user only."""
    sample = "clusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
    config = host_kubeconfig(shell.query(kubeconfig_command(), dry_run_answer=sample))
    shell.say(f"+ write {path} (server https://127.0.0.1:{API_PORT}, mode 0600)")
    if shell.dry_run:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(config)
    shell.say(f"  from the host: kubectl --kubeconfig {path} get pods")


# --- running it -------------------------------------------------------------


def ensure_secret_env(shell: Shell) -> None:
    """The VM has no Docker Compose to resolve the passwords: the host writes
    k8s/secret.env before the VM boots or syncs, and rsync copies it in."""
    if Path("k8s/secret.env").exists():
        return
    if shell.dry_run:
        shell.note("k8s/secret.env is missing: a real run writes it first, for the VM")
        return
    k8s_deploy.ensure_secret_env(shell, k8s_deploy.DeployOptions())


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
    ensure_secret_env(shell)
    for argv in deploy_commands(state):
        shell.run(argv)
    write_kubeconfig(shell)
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
    """``invoke k8s-drill`` against the VM, with the kubeconfig
    ``vagrant-deploy`` left on the host."""
    if not shell.dry_run and not KUBECONFIG.exists():
        raise VagrantTaskError(f"no {KUBECONFIG}: run `invoke vagrant-deploy` first")
    target = DrillTarget(shell, Kubectl(kubeconfig=str(KUBECONFIG)), url=url, timeout=timeout)
    reports = run_drills(names, target)
    check_reports(reports, say=shell.say)
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m deploy.vagrant", description="The k3s VM: deploy, destroy, drill."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("deploy", help="boot the VM (or re-provision it); wait for 3 replicas")
    up.add_argument("--state", default="", help="assume this VM state instead of asking vagrant")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds for 3 replicas")
    commands.add_parser("destroy", help="delete the VM, counts included")
    drills = commands.add_parser("drill", help="the k8s-drill drills against the VM")
    drills.add_argument("--drill", default="", help="comma-separated drills (default: all)")
    drills.add_argument("--timeout", type=float, default=180.0, help="seconds for each wait")
    for command in commands.choices.values():
        command.add_argument("--dry-run", action="store_true", help="print, run nothing")
    args = parser.parse_args(argv)
    shell = Shell(dry_run=args.dry_run)
    if args.command == "deploy":
        return exit_status(
            "vagrant-deploy", lambda: deploy(shell, state=args.state, timeout=args.timeout)
        )
    if args.command == "destroy":
        return exit_status("vagrant-destroy", lambda: destroy(shell))
    return exit_status(
        "vagrant-drill", lambda: drill(shell, drill_names(args.drill), timeout=args.timeout)
    )


if __name__ == "__main__":
    sys.exit(main())
