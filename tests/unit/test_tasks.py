"""tasks.py's tiers: one per folder under tests/, as pyproject.toml declares them."""

from __future__ import annotations

from pathlib import Path

import tasks

TESTS = Path(__file__).resolve().parent.parent


def test_every_tier_is_a_folder_and_every_folder_a_tier() -> None:
    folders = {p.parent.name for p in TESTS.glob("*/__init__.py")} - {"utils"}
    assert set(tasks.TIERS) == folders
    assert {"unit", "integration", "packaging", "offline_images"} <= set(tasks.TIERS)


def test_each_tier_says_what_it_needs() -> None:
    assert all(needs.strip() for needs in tasks.declared_tiers().values())
