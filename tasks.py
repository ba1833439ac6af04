"""Developer tasks (invoke). Thin on purpose: each task runs real commands, and
invoke echoes each one first (the collection's config at the bottom); logic
worth testing lives in modules with tests."""

from __future__ import annotations

import shlex
import shutil
import sys
import tomllib
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from localservers.project import shell_scripts

PYTHON = sys.executable
PYPROJECT = Path(__file__).resolve().parent / "pyproject.toml"


def declared_tiers() -> dict[str, str]:
    """The test tiers and what each needs, as pyproject.toml's pytest markers
    declare them ("tier: what it needs"). Each tier is a folder under tests/,
    and tests/conftest.py marks every test with its folder's name, which
    --strict-markers refuses unless it is declared here: one list for pytest,
    `invoke test --tiers` and CI."""
    config = tomllib.loads(PYPROJECT.read_text())
    markers: list[str] = config["tool"]["pytest"]["ini_options"]["markers"]
    return dict(marker.split(": ", 1) for marker in markers)


TIERS = tuple(declared_tiers())


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
    c.run(f"{PYTHON} -m pytest{marker} {pytest_args}".rstrip())


@task
def lint(c: Context) -> None:
    """ruff (lint and format check), mypy, and shellcheck on every shell script."""
    c.run(f"{PYTHON} -m ruff check .")
    c.run(f"{PYTHON} -m ruff format --check .")
    c.run(f"{PYTHON} -m mypy")
    if shutil.which("shellcheck") is None:
        sys.exit("shellcheck is missing: install Debian's shellcheck package")
    # Found by extension and shebang among git's files, so a new script is
    # linted without being listed anywhere.
    scripts = shell_scripts()
    c.run(shlex.join(["shellcheck", "--external-sources", *scripts]))


@task
def lock(c: Context) -> None:
    """Re-pin requirements.txt and requirements-dev.txt, with hashes."""
    compile_ = (
        f"{PYTHON} -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe"
    )
    c.run(f"{compile_} --output-file requirements.txt pyproject.toml")
    c.run(f"{compile_} --extra dev --output-file requirements-dev.txt pyproject.toml")


@task
def dev(c: Context) -> None:
    """Run the Compose stack; an edit under api/ answers about a second later. Ctrl-C stops it."""
    # compose.dev.yaml runs ./api in the container and reloads the workers;
    # --watch rebuilds the image when requirements.txt or the Dockerfile change.
    # Ctrl-C stops the containers (`docker compose up` stops what it started).
    c.run("docker compose -f compose.yaml -f compose.dev.yaml up --build --watch", pty=True)


@task(help={"volumes": "also delete the database volume: every count is lost"})
def down(c: Context, volumes: bool = False) -> None:
    """Stop and remove the stack's containers (and its data with --volumes)."""
    c.run("docker compose down" + (" --volumes" if volumes else ""))


@task(help={"service": "only this service (api or db)", "follow": "keep streaming"})
def logs(c: Context, service: str = "", follow: bool = False) -> None:
    """Show the stack's logs."""
    c.run(f"docker compose logs{' --follow' if follow else ''} {service}".rstrip(), pty=follow)


@task(help={"kompose": "the kompose executable (default: kompose on PATH)"})
def k8s_gen(c: Context, kompose: str = "kompose") -> None:
    """Generate k8s/base/ from compose.yaml (kompose) and k8s/secret.env; kustomize patches it."""
    # deploy/k8s_gen.py holds the logic and prints the kompose command it runs.
    c.run(f"{PYTHON} -m deploy.k8s_gen --kompose {kompose}")


# --- The local cluster: a real Kubernetes in one container (cluster/) ------


@task
def cluster_up(c: Context) -> None:
    """Start the local Kubernetes (built from source on first use); kubeconfig in .cluster/."""
    c.run("bash cluster/up.sh")


@task
def cluster_down(c: Context) -> None:
    """Remove the local Kubernetes and every trace of it."""
    c.run("bash cluster/down.sh")


# --- Any cluster: one deploy path and the drills (deploy/k8s_deploy.py, deploy/drill.py)


CLUSTER_HELP = {
    "kubeconfig": "kubeconfig file (default: KUBECONFIG or kubectl's default)",
    "namespace": "namespace (k8s-deploy creates it; default: the context's / where the API runs)",
    "kubectl": "kubectl command, e.g. 'k3s kubectl' (default: kubectl)",
    "url": "where the API answers (default: http://127.0.0.1:30001/, the NodePort)",
    "dry_run": "print the commands and checks without running them",
}
DRILL_HELP = "comma-separated drills: pod-delete, rollout, db-outage, db-restart (default: all)"


def module_command(module: str, *args: str, **options: str | float | bool) -> str:
    """``python -m MODULE ARGS --option value ...``, leaving out options that
    are false or empty, so the module's own defaults apply."""
    words = [PYTHON, "-m", module, *args]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif value:
            words += [flag, str(value)]
    return shlex.join(words)


@task(
    help={
        **CLUSTER_HELP,
        "loader": "how images reach the cluster: auto (from the context), local, kind, k3d, "
        "minikube, k3s, none (it pulls from your registry)",
        "cluster_name": "kind/k3d cluster or minikube profile (default: from the context)",
        "build": "build visit-counter-api:dev first (--no-build uses the one already built)",
        "timeout": "kubectl rollout status timeout (default 5m)",
        "replicas_timeout": "seconds to wait for three replicas to answer",
    }
)
def k8s_deploy(
    c: Context,
    kubeconfig: str = "",
    namespace: str = "",
    kubectl: str = "kubectl",
    loader: str = "auto",
    cluster_name: str = "",
    url: str = "",
    build: bool = True,
    timeout: str = "5m",
    replicas_timeout: int = 180,
    dry_run: bool = False,
) -> None:
    """Deploy k8s/ to the cluster kubectl points at; wait for 3 replicas to answer."""
    c.run(
        module_command(
            "deploy.k8s_deploy",
            kubeconfig=kubeconfig,
            namespace=namespace,
            kubectl=kubectl,
            loader=loader,
            cluster_name=cluster_name,
            url=url,
            no_build=not build,
            timeout=timeout,
            replicas_timeout=replicas_timeout,
            dry_run=dry_run,
        )
    )


@task(
    help={
        **CLUSTER_HELP,
        "drill": DRILL_HELP,
        "timeout": "seconds for each wait (a rollout, three replicas, recovery)",
    }
)
def k8s_drill(
    c: Context,
    kubeconfig: str = "",
    namespace: str = "",
    kubectl: str = "kubectl",
    url: str = "",
    drill: str = "",
    timeout: int = 180,
    dry_run: bool = False,
) -> None:
    """Run the drills under a polling client; fail on any failed request or lost count."""
    c.run(
        module_command(
            "deploy.drill",
            kubeconfig=kubeconfig,
            namespace=namespace,
            kubectl=kubectl,
            url=url,
            drill=drill,
            timeout=timeout,
            dry_run=dry_run,
        )
    )


# --- The Vagrant VM: k3s running k8s/ (logic in deploy/vagrant.py) ----------


@task(
    help={
        "dry_run": "print the commands and checks without running them",
        "state": "skip `vagrant status` and assume this VM state (running, poweroff, ...)",
        "timeout": "seconds to wait for three replicas to answer on http://localhost:8000/",
    }
)
def vagrant_deploy(c: Context, dry_run: bool = False, state: str = "", timeout: int = 180) -> None:
    """Boot the k3s VM (or re-provision it), then wait for 3 replicas on :8000."""
    c.run(module_command("deploy.vagrant", "deploy", state=state, timeout=timeout, dry_run=dry_run))


@task(help={"dry_run": "print the command without running it"})
def vagrant_destroy(c: Context, dry_run: bool = False) -> None:
    """Delete the VM and everything in it, counts included."""
    c.run(module_command("deploy.vagrant", "destroy", dry_run=dry_run))


@task(
    help={
        "dry_run": "print the commands and checks without running them",
        "drill": DRILL_HELP,
        "timeout": "seconds for each wait (a rollout, three replicas, recovery)",
    }
)
def vagrant_drill(c: Context, dry_run: bool = False, drill: str = "", timeout: int = 180) -> None:
    """The k8s-drill drills against the VM (with .vagrant/kubeconfig, URL :8000)."""
    c.run(module_command("deploy.vagrant", "drill", drill=drill, timeout=timeout, dry_run=dry_run))


@task(
    help={
        "quick": "a smoke run of a few seconds instead of the full measurement",
        "profile": "also record a py-spy profile of one replica during the c=64 load",
    }
)
def bench(c: Context, quick: bool = False, profile: bool = False) -> None:
    """Benchmark: MariaDB + 3 gunicorn replicas under wrk; results in bench/results/."""
    c.run(module_command("bench.run", quick=quick, profile=profile))


# Every command a task runs is printed first, as `+ command`, like deploy/'s.
ns = Collection.from_module(
    sys.modules[__name__], config={"run": {"echo": True, "echo_format": "+ {command}"}}
)
