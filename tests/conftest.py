"""Tiers are folders: tests/<tier>/. Each test gets its tier as a marker.

The tiers are declared once, as pyproject.toml's pytest markers (with what
each needs); --strict-markers makes a folder that is not declared there an
error, so no tier can be left out of `invoke test --tiers` or CI.

A tool the tier needs that is missing skips its tests on a laptop and fails
them with ``CI=true`` (tests/utils/tools.py), whether a test asks for it with
``require_tool`` or a local server raises ``ToolMissing``. The unit tier needs
only Python and the dev requirements, so there a ``ToolMissing`` is an
ordinary failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from tests.utils.tools import in_ci, tools_required

TESTS = Path(__file__).resolve().parent


def tier_of(path: Path) -> str | None:
    """The tier of a test file: the first folder under tests/ (None outside
    tests/, as for a test that loads this file as a plugin)."""
    path = path.resolve()
    return path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))


def tools_required_by(item: pytest.Item) -> AbstractContextManager[None]:
    return nullcontext() if item.get_closest_marker("unit") else tools_required()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with tools_required_by(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with tools_required_by(item):
        return (yield)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # With CI=true a skipped test is a failed test: a tier that was skipped has
    # not passed. (A missing tool already fails; this also catches any other
    # skip.)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if in_ci() and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
