"""The original experiment's words: the greeting and the list of counts.

Standard library only: the deploy tasks print the counts the same way, and
they also run on a bare python3 inside the Vagrant VM.
"""

from __future__ import annotations

from collections.abc import Iterable


def count_lines(counts: Iterable[tuple[str, int]]) -> list[str]:
    """One ``- NAME N times`` line per replica, in the order given."""
    return [f"- {name} {count} times" for name, count in counts]


def greeting_text(replica: str, counts: Iterable[tuple[str, int]]) -> str:
    """The page ``GET /`` answers in plain text, word for word."""
    return "\n".join([f"Hello from {replica}!", "", "You visited:", *count_lines(counts)]) + "\n"
