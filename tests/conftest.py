"""Tiers are folders: tests/<tier>/. Each test gets its tier as a marker."""

from __future__ import annotations

import pytest

TIERS = ("unit", "integration", "stack", "manifests", "vagrant", "cluster")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # With CI=true a skipped test is a failed test: a tier that was skipped has
    # not passed. (tests/tooling.py already fails on a missing tool; this also
    # catches any other skip.)
    from tests.tooling import in_ci

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if in_ci() and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
