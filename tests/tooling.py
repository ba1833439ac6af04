"""How a tier asks for the real tools it needs.

On a developer's laptop a missing tool skips the tier with the reason. With
``CI=true`` a missing tool fails the run instead: a tier that was skipped has
not passed, and CI must never report green for it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skip (laptop) or fail (CI) because something the tier needs is absent."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, hint: str = "") -> str:
    """Return the absolute path of executable ``name``, or skip/fail the test.

    The running virtualenv's bin/ is searched first: tools installed from the
    lock file (hadolint, kubectl) live there even when it is not activated.
    """
    venv_bin = str(Path(sys.executable).parent)
    path = shutil.which(name, path=venv_bin) or shutil.which(name)
    if path is None:
        missing(f"{name} is not installed" + (f" ({hint})" if hint else ""))
    assert path is not None  # for mypy; missing() never returns
    return path
