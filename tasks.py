"""Developer tasks (invoke). Thin on purpose: each task runs real commands, and
invoke echoes each one first (the collection's config at the bottom); logic
worth testing lives in modules with tests."""

from __future__ import annotations

import inspect
import shlex
import shutil
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task, task

import deploy.drill
import deploy.k8s_deploy
import deploy.k8s_gen
from deploy.options import Option, Value, command_line
from deploy.vagrant import OPTIONS as VAGRANT
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


# --- The local cluster: a real Kubernetes, a container per node (cluster/) ---


@task(
    help={
        "nodes": "how many nodes, 1 to 5: a control plane and N-1 workers (default 3)",
        "retain": "keep what a failed start made, for a look inside (cluster-down removes it)",
    }
)
def cluster_up(c: Context, nodes: int = 3, retain: bool = False) -> None:
    """Start the local Kubernetes (built from source on first use); kubeconfig in .cluster/."""
    c.run(f"bash cluster/up.sh --nodes {nodes}" + " --retain" * retain)


@task
def cluster_down(c: Context) -> None:
    """Remove the local Kubernetes and every trace of it."""
    c.run("bash cluster/down.sh")


# --- Any cluster, and the Vagrant VM: the logic and each task's options live in
# deploy/ (k8s_gen.py, k8s_deploy.py, drill.py, vagrant.py); these tasks only pass them on.


def module_task(
    name: str, module: str, options: Sequence[Option], doc: str, *args: str
) -> Task[Callable[..., None]]:
    """Task ``name`` runs ``python -m MODULE ARGS`` with the options given;
    its options, defaults and help come from the module's own table."""

    def body(c: Context, **values: Value) -> None:
        c.run(shlex.join([PYTHON, "-m", module, *args, *command_line(options, values)]))

    context = inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    declared = [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
        for o in options
    ]
    body.__signature__ = inspect.Signature([context, *declared])  # type: ignore[attr-defined]
    body.__name__ = body.__qualname__ = name
    body.__doc__ = doc
    return Task(body, help={o.name: o.help for o in options})


k8s_gen = module_task(
    "k8s_gen",
    "deploy.k8s_gen",
    deploy.k8s_gen.OPTIONS,
    "Generate k8s/base/ from compose.yaml (kompose) and k8s/secret.env; kustomize patches it.",
)
k8s_deploy = module_task(
    "k8s_deploy",
    "deploy.k8s_deploy",
    deploy.k8s_deploy.OPTIONS,
    "Deploy k8s/ to the cluster kubectl points at; wait for 3 replicas to answer.",
)
k8s_drill = module_task(
    "k8s_drill",
    "deploy.drill",
    deploy.drill.OPTIONS,
    "Run the drills under a polling client; fail on any failed request or lost count.",
)
vagrant_deploy = module_task(
    "vagrant_deploy",
    "deploy.vagrant",
    VAGRANT["deploy"],
    "Boot the k3s VM (or re-provision it), then wait for 3 replicas on :8000.",
    "deploy",
)
vagrant_destroy = module_task(
    "vagrant_destroy",
    "deploy.vagrant",
    VAGRANT["destroy"],
    "Delete the VM and everything in it, counts included.",
    "destroy",
)
vagrant_drill = module_task(
    "vagrant_drill",
    "deploy.vagrant",
    VAGRANT["drill"],
    "The k8s-drill drills against the VM (with .vagrant/kubeconfig, URL :8000).",
    "drill",
)


@task(
    help={
        "quick": "a smoke run of a few seconds instead of the full measurement",
        "profile": "also record a py-spy profile of one replica during the c=64 load",
        "balancer": "instead: compose.yaml's stack, GET / through HAProxy beside direct (Docker)",
        "original": "also run the original Go server built by bench/build-original.sh at PATH",
        "database": "galera: instead, the API on three local Galera nodes beside one MariaDB",
    }
)
def bench(
    c: Context,
    quick: bool = False,
    profile: bool = False,
    balancer: bool = False,
    original: str = "",
    database: str = "single",
) -> None:
    """Benchmark: MariaDB + 3 gunicorn replicas under wrk; results in bench/results/."""
    if database not in ("single", "galera"):
        raise Exit(f"--database must be single or galera, got {database!r}", code=2)
    if balancer:
        c.run(f"{PYTHON} -m bench.balancer" + " --quick" * quick)
        return
    if database == "galera":
        c.run(f"{PYTHON} -m bench.galera" + " --quick" * quick)
        return
    flags = ["--quick"] * quick + ["--profile"] * profile
    flags += ["--original", original] if original else []
    c.run(shlex.join([PYTHON, "-m", "bench.run", *flags]))


# Every command a task runs is printed first, as `+ command`, like deploy/'s.
ns = Collection.from_module(
    sys.modules[__name__], config={"run": {"echo": True, "echo_format": "+ {command}"}}
)
