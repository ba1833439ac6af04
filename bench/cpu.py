"""CPU time per component during a load, from /proc: where the cores went.

On a two-core machine that runs the load generator, three replicas and the
database at once, the split of CPU seconds says what limits throughput.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
MACHINE = "machine (all, busy)"


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's master and workers)."""
    tree = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        if children.exists():
            for child in children.read_text().split():
                tree += process_tree(int(child))
    return tree


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU seconds of these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS_PER_SECOND


def machine_busy_seconds() -> float:
    """CPU seconds every core spent busy, whoever ran (the first line of /proc/stat).

    Against the groups above it shows what else ran (this runner, the idle
    server, the kernel) and whether the cores were full at all. Steal (time a
    hypervisor gave to other guests) counts as busy: the cores were not ours.
    """
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND


def children_cpu_seconds() -> float:
    """CPU of this process's finished children: the wrk runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Snapshot CPU seconds of named process groups; report cores used."""

    def __init__(self, groups: Mapping[str, Sequence[int]]) -> None:
        self._roots = dict(groups)
        self._start: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        sample = {
            name: sum(cpu_seconds(process_tree(pid)) for pid in roots)
            for name, roots in self._roots.items()
        }
        sample["load generator (wrk)"] = children_cpu_seconds()
        sample[MACHINE] = machine_busy_seconds()
        return sample

    def start(self) -> None:
        self._start = self._now()
        self._started = time.monotonic()

    def cores(self, seconds: float) -> dict[str, float]:
        """Average cores each group used since start() over ``seconds`` (the
        load's own duration: the groups idle outside it). The machine's total
        is averaged over the whole time since start(), as it never idles."""
        end = self._now()
        cores = {name: (end[name] - self._start[name]) / seconds for name in end}
        wall = max(time.monotonic() - self._started, 1e-9)
        cores[MACHINE] = (end[MACHINE] - self._start[MACHINE]) / wall
        return cores
