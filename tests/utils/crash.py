"""The crash drills' shared parts (Compose and the cluster): a replica's
process tree read from /proc, to kill its main process the way a crash would
and to know when the crash is complete; and what the drill may cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from deploy.poller import Sample

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


def check_crash_cost(samples: Sequence[Sample], killed_at: float, stored_increase: int) -> None:
    """What a crash under the 50 ms poller may cost: nothing sent after it
    fails but, one request at a time, the one that reached the process as it
    died (a clean ``502`` from the balancer, ending right after the kill); the
    stored counts rose by the ``200`` answers (and the one request the drill
    sent itself) plus at most that failure."""
    after_kill = [s for s in samples if s.at > killed_at]
    failed = [s for s in after_kill if s.status != 200]
    print(f"crash: {len(after_kill)} requests after it, {len(failed)} failed: {failed}")
    assert len(after_kill) >= 40, len(after_kill)
    assert len(failed) <= 1, failed
    assert all(s.status == 502 and s.at - killed_at < 1 for s in failed), failed
    ok = sum(s.status == 200 for s in samples) + 1
    assert ok <= stored_increase <= ok + len(failed)
