"""What ``invoke vagrant-deploy``, ``vagrant-destroy`` and ``vagrant-drill`` do.

Inside the VM, provisioning deploys with the same code as any cluster
(``python3 -m deploy.k8s_deploy``). ``vagrant-deploy`` then leaves the VM's
kubeconfig on the host, ``.vagrant/kubeconfig``, so kubectl and every k8s-*
task work against the VM as against any cluster; ``vagrant-drill`` is
``k8s-drill`` with it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from deploy import drill as drills
from deploy import k8s_secret, options
from deploy.api_client import Survey
from deploy.commands import Argv, DeployError, Kubectl, Runner, exit_status
from deploy.k8s_deploy import show_replicas
from deploy.k8s_secret import write_private_file
from deploy.options import Option
from deploy.poller import DrillReport

# The host ends of the Vagrantfile's forwarded ports: the NodePort (30001) on
# the URL Compose serves, and the API server (6443). .vagrant/ is Vagrant's
# own, gitignored, and never synced into the VM.
URL = "http://localhost:8000/"
API_PORT = 26443
KUBECONFIG = Path(".vagrant/kubeconfig")
# k3s writes its admin kubeconfig for the VM's own loopback.
K3S_KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
_K3S_SERVER = re.compile(r"^([ \t]*server:[ \t]*)https://127\.0\.0\.1:6443[ \t]*$", re.MULTILINE)
LOOK_INSIDE = f"Look inside the VM: kubectl --kubeconfig {KUBECONFIG} get pods,services -A"

# Each subcommand's options (its invoke task is vagrant-SUBCOMMAND) and help.
OPTIONS: dict[str, tuple[Option, ...]] = {
    "deploy": (
        Option(
            "state", "", "skip `vagrant status` and assume this VM state (running, poweroff, ...)"
        ),
        Option("timeout", 180, f"seconds for three replicas to answer on {URL}"),
        options.DRY_RUN,
    ),
    "destroy": (options.DRY_RUN,),
    "drill": (drills.DRILL, drills.TIMEOUT, options.DRY_RUN),
}
HELP = {
    "deploy": "boot the VM (or re-provision it); wait for 3 replicas",
    "destroy": "delete the VM, counts included",
    "drill": "the k8s-drill drills against the VM",
}


def parse_state(machine_readable: str) -> str:
    """From ``vagrant status --machine-readable``'s ``timestamp,target,state,STATE``
    line: ``running``, ``poweroff``, ``not_created`` (VirtualBox), ``shutoff`` (libvirt)."""
    for line in machine_readable.splitlines():
        parts = line.split(",")
        if len(parts) >= 4 and parts[2] == "state":
            return parts[3]
    raise DeployError("could not read the VM's state from `vagrant status --machine-readable`")


def kubeconfig_command() -> Argv:
    return ["vagrant", "ssh", "--no-tty", "-c", f"sudo cat {K3S_KUBECONFIG}"]


def host_kubeconfig(k3s_yaml: str, port: int = API_PORT) -> str:
    """k3s's kubeconfig, pointed at the host's end of the forwarded port (the
    API server's certificate names 127.0.0.1, so TLS still verifies)."""
    rewritten, found = _K3S_SERVER.subn(rf"\g<1>https://127.0.0.1:{port}", k3s_yaml)
    if found != 1:
        raise DeployError(
            f"{K3S_KUBECONFIG} in the VM has no `server: https://127.0.0.1:6443` line to point "
            f"at 127.0.0.1:{port}"
        )
    return rewritten


def write_kubeconfig(runner: Runner, path: Path = KUBECONFIG) -> None:
    """The VM's kubeconfig on the host, readable by this user only."""
    k3s_yaml = runner.output(kubeconfig_command())

    def write() -> None:
        write_private_file(path, host_kubeconfig(k3s_yaml))
        runner.note(f"from the host: kubectl --kubeconfig {path} get pods")

    runner.act(f"write {path} (server https://127.0.0.1:{API_PORT}, mode 0600)", write)


def deploy(runner: Runner, state: str = "", url: str = URL, timeout: float = 180) -> Survey | None:
    if not state:
        status = runner.output(["vagrant", "status", "--machine-readable"])
        state = parse_state(status) if status else ""
        if not status:  # a dry run
            runner.note(
                "(dry run: the VM's state is unknown; --state running previews the other path)"
            )
    # The VM has no Docker Compose to resolve the passwords: the host writes
    # k8s/secret.env before the VM boots or syncs, and rsync copies it in.
    k8s_secret.ensure_secret_env(runner, Path("."))
    # `vagrant up` boots (or creates) the VM and provisions it: the
    # Vagrantfile's provisioner runs on every `up`. A running VM gets the
    # current tree (rsync is one-way and only automatic on `up`) and is
    # provisioned again, which rebuilds the image and re-applies k8s/.
    for command in ["rsync", "provision"] if state == "running" else ["up"]:
        runner.run(["vagrant", command])
    write_kubeconfig(runner)
    return show_replicas(runner, url, timeout, LOOK_INSIDE)


def drill(
    runner: Runner, names: Sequence[str] = drills.DRILLS, url: str = URL, timeout: float = 180
) -> list[DrillReport]:
    """``invoke k8s-drill`` against the VM, with the kubeconfig ``vagrant-deploy`` left."""
    if not runner.dry_run and not KUBECONFIG.exists():
        raise DeployError(f"no {KUBECONFIG}: run `invoke vagrant-deploy` first")
    target = drills.DrillTarget(
        runner, Kubectl(kubeconfig=str(KUBECONFIG)), url=url, timeout=timeout
    )
    reports = drills.run_drills(names, target)
    drills.check_reports(reports, say=runner.say)
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m deploy.vagrant", description="The k3s VM: deploy, destroy, drill."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command, declared in OPTIONS.items():
        options.add_to(commands.add_parser(command, help=HELP[command]), declared)
    args = parser.parse_args(argv)
    runner = Runner.for_run(args.dry_run)
    task = {
        "deploy": lambda: deploy(runner, state=args.state, timeout=args.timeout),
        "destroy": lambda: runner.run(["vagrant", "destroy", "--force"]),
        "drill": lambda: drill(runner, drills.drill_names(args.drill), timeout=args.timeout),
    }
    return exit_status(f"vagrant-{args.command}", task[args.command])


if __name__ == "__main__":
    sys.exit(main())
