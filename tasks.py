"""Developer tasks (invoke). Thin on purpose: each task prints and runs real
commands; logic worth testing lives in modules with tests."""

from __future__ import annotations

import sys

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
    compile_ = f"{PYTHON} -m piptools compile --quiet --generate-hashes --strip-extras --allow-unsafe"
    run(c, f"{compile_} --output-file requirements.txt pyproject.toml")
    run(c, f"{compile_} --extra dev --output-file requirements-dev.txt pyproject.toml")
