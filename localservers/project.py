"""Facts about this checkout that tasks.py, the tests and the benchmark share."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The test tiers, one folder each under tests/ and one pytest marker each.
TIERS = ("unit", "integration", "stack", "manifests", "vagrant", "cluster")
