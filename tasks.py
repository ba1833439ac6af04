"""Developer tasks (invoke). Thin on purpose: each task prints and runs real
commands; logic worth testing lives in modules with tests."""

from __future__ import annotations

import sys
from collections.abc import Callable

from invoke.context import Context
from invoke.tasks import task

TIERS = ("unit", "integration", "stack", "manifests", "vagrant")
PYTHON = sys.executable


def run(c: Context, command: str, **kwargs: object) -> object:
    print(f"+ {command}", flush=True)
    return c.run(command, pty=False, **kwargs)


@task(
    help={
        "tiers": f"comma-separated tiers to run, from {', '.join(TIERS)} (default: all)",
        "pytest_args": "extra arguments for pytest, e.g. '-x -k outage'",
    }
)
def test(c: Context, tiers: str = "", pytest_args: str = "") -> None:
    """Run the test suite, every tier unless --tiers picks some."""
    chosen = [t.strip() for t in tiers.split(",") if t.strip()]
    unknown = sorted(set(chosen) - set(TIERS))
    if unknown:
        sys.exit(f"unknown tier(s): {', '.join(unknown)}; choose from {', '.join(TIERS)}")
    marker = f' -m "{" or ".join(chosen)}"' if chosen else ""
    run(c, f"{PYTHON} -m pytest{marker} {pytest_args}".rstrip())


@task
def lint(c: Context) -> None:
    """ruff (lint and format check) and mypy."""
    run(c, f"{PYTHON} -m ruff check .")
    run(c, f"{PYTHON} -m ruff format --check .")
    run(c, f"{PYTHON} -m mypy")


@task
def lock(c: Context) -> None:
    """Re-pin requirements.txt and requirements-dev.txt, with hashes."""
    compile_ = (
        f"{PYTHON} -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe"
    )
    run(c, f"{compile_} --output-file requirements.txt pyproject.toml")
    run(c, f"{compile_} --extra dev --output-file requirements-dev.txt pyproject.toml")


@task
def dev(c: Context) -> None:
    """Build and run the Compose stack in watch mode; Ctrl-C stops it."""
    # --watch rebuilds the api when api/ changes; Ctrl-C stops the containers
    # (`docker compose up` stops what it started on SIGINT).
    run(c, "docker compose up --build --watch", pty=True)


@task(help={"volumes": "also delete the database volume: every count is lost"})
def down(c: Context, volumes: bool = False) -> None:
    """Stop and remove the stack's containers (and its data with --volumes)."""
    run(c, "docker compose down" + (" --volumes" if volumes else ""))


@task(help={"service": "only this service (api or db)", "follow": "keep streaming"})
def logs(c: Context, service: str = "", follow: bool = False) -> None:
    """Show the stack's logs."""
    run(c, f"docker compose logs{' --follow' if follow else ''} {service}".rstrip(), pty=follow)


@task(help={"kompose": "the kompose executable (default: kompose on PATH)"})
def k8s_gen(c: Context, kompose: str = "kompose") -> None:
    """Generate k8s/ from compose.yaml (kompose, then patches) and k8s/secret.env."""
    # deploy/k8s_gen.py holds the logic and prints the kompose command it runs.
    run(c, f"{PYTHON} -m deploy.k8s_gen --kompose {kompose}")


# --- The Vagrant VM: k3s running k8s/ (logic in deploy/vagrant.py) ----------


def _vagrant_task(action: Callable[[], object], name: str) -> None:
    from deploy.vagrant import VagrantTaskError

    try:
        action()
    except VagrantTaskError as exc:
        sys.exit(f"{name}: {exc}")


@task(
    help={
        "dry_run": "print the commands and checks without running them",
        "state": "skip `vagrant status` and assume this VM state (running, poweroff, ...)",
        "timeout": "seconds to wait for three replicas to answer on http://localhost:8000/",
    }
)
def vagrant_deploy(c: Context, dry_run: bool = False, state: str = "", timeout: int = 180) -> None:
    """Boot the k3s VM (or re-provision it), then wait for 3 replicas on :8000."""
    from deploy import vagrant

    shell = vagrant.Shell(dry_run=dry_run)
    _vagrant_task(lambda: vagrant.deploy(shell, state=state, timeout=timeout), "vagrant-deploy")


@task(help={"dry_run": "print the command without running it"})
def vagrant_destroy(c: Context, dry_run: bool = False) -> None:
    """Delete the VM and everything in it, counts included."""
    from deploy import vagrant

    _vagrant_task(lambda: vagrant.destroy(vagrant.Shell(dry_run=dry_run)), "vagrant-destroy")


@task(
    help={
        "dry_run": "print the commands and checks without running them",
        "timeout": "seconds to wait for three replicas to answer again",
    }
)
def vagrant_drill(c: Context, dry_run: bool = False, timeout: int = 180) -> None:
    """Delete the API pod that answers; show Kubernetes replace it, counts kept."""
    from deploy import vagrant

    shell = vagrant.Shell(dry_run=dry_run)
    _vagrant_task(lambda: vagrant.drill(shell, timeout=timeout), "vagrant-drill")


@task(
    help={
        "quick": "a smoke run of a few seconds instead of the full measurement",
        "profile": "also record a py-spy profile of one replica during the c=64 load",
    }
)
def bench(c: Context, quick: bool = False, profile: bool = False) -> None:
    """Benchmark: MariaDB + 3 gunicorn replicas under wrk; results in bench/results/."""
    flags = (" --quick" if quick else "") + (" --profile" if profile else "")
    run(c, f"{PYTHON} -m bench.run{flags}")
