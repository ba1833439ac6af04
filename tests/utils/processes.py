"""A process and its descendants, read from /proc, and whether they still
run: for the crash drills, which kill a replica's main process the way the
kernel would on a crash, and must know when the crash is complete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

# Reads a /proc file; None when it does not exist. The host's /proc, or a
# cluster node's through `docker exec`.
ProcReader = Callable[[str], str | None]


def read_host_proc(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return None


def process_tree(pid: int, read: ProcReader = read_host_proc) -> list[int]:
    """``pid`` and its descendants."""
    children = (read(f"/proc/{pid}/task/{pid}/children") or "").split()
    return [pid, *(p for child in children for p in process_tree(int(child), read))]


def is_running(pid: int, read: ProcReader = read_host_proc) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    stat = read(f"/proc/{pid}/stat")
    return stat is not None and stat.rsplit(")", 1)[1].split()[0] != "Z"
