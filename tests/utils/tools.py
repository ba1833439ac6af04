"""How a tier asks for the real tools it needs.

On a developer's laptop a missing tool skips the tier with the reason. With
``CI=true`` a missing tool fails the run instead: a tier that was skipped has
not passed, and CI must never report green for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

from deploy.commands import ToolMissing, find_tool


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing(reason: str) -> NoReturn:
    """Skip (laptop) or fail (CI) because something the tier needs is absent."""
    # `from None`: the report shows the one line even when a ToolMissing led here.
    if in_ci():
        raise pytest.fail.Exception(f"CI=true and {reason}", pytrace=False) from None
    raise pytest.skip.Exception(reason) from None


@contextmanager
def tools_required() -> Iterator[None]:
    """A ``ToolMissing`` raised inside skips (laptop) or fails (CI) the test."""
    try:
        yield
    except ToolMissing as exc:
        missing(str(exc))


def require_tool(name: str, hint: str = "") -> str:
    """Return the absolute path of executable ``name``, or skip/fail the test."""
    with tools_required():
        return find_tool(name, hint)
