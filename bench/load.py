"""HTTP load with Debian's wrk: one single-threaded wrk process per replica.

Why one process per replica rather than one multi-threaded wrk: a wrk thread
connects to one address and wrk splits connections evenly between threads,
so one process cannot put exactly 16 connections over 3 replicas. One process
each gives exact splits (6/5/5, 22/21/21), per-replica status tallies to check
against each replica's stored count, and the Lua ``done()`` hook dumps the full
latency histogram, which merges exactly across processes.

The Lua script (visits.lua) stops sending visits after ``load_seconds`` and
lets wrk's ``--duration`` run out a drain period later, so that no visit is in
flight when wrk exits: every visit sent has an answer, and the stored counts
can be compared with the number of ``200`` answers exactly.
"""

from __future__ import annotations

import math
import subprocess
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).with_name("visits.lua")

# wrk's latency histogram has one slot per microsecond up to the timeout; a
# visit slower than this counts as a timeout error.
TIMEOUT_SECONDS = 5


@dataclass
class WrkResult:
    """What one wrk process saw, parsed from the file its done() hook wrote."""

    url: str
    connections: int
    sent: int = 0
    answered: int = 0
    started: float = 0.0
    last_answer: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    socket_errors: Counter[str] = field(default_factory=Counter)
    latency_us: Counter[int] = field(default_factory=Counter)


@dataclass
class LoadResult:
    """Every replica's wrk merged: one concurrency level's answer."""

    connections: int
    per_url: list[WrkResult]

    @property
    def answered(self) -> int:
        return sum(r.answered for r in self.per_url)

    @property
    def unanswered(self) -> int:
        return sum(r.sent - r.answered for r in self.per_url)

    @property
    def statuses(self) -> Counter[int]:
        return sum((r.statuses for r in self.per_url), Counter())

    @property
    def socket_errors(self) -> Counter[str]:
        return sum((r.socket_errors for r in self.per_url), Counter())

    @property
    def errors(self) -> int:
        """Visits without a 200: other statuses, no answer, failed connects.

        A read or write error loses the request in flight, which then shows as
        unanswered (sent, never answered), so it is not counted twice. wrk's
        "timeout" is an answer slower than TIMEOUT_SECONDS: counted by status.
        """
        non_200 = sum(n for status, n in self.statuses.items() if status != 200)
        return non_200 + self.unanswered + self.socket_errors["connect"]

    @property
    def seconds(self) -> float:
        """From the first visit sent to the last answer, over all processes."""
        started = min(r.started for r in self.per_url)
        finished = max(r.last_answer for r in self.per_url)
        return max(finished - started, 1e-9)

    @property
    def requests_per_second(self) -> float:
        return self.answered / self.seconds

    def percentile_ms(self, percent: float) -> float:
        return percentile(sum((r.latency_us for r in self.per_url), Counter()), percent) / 1000


def percentile(histogram: Counter[int], percent: float) -> float:
    """The smallest value with at least ``percent`` % of the samples at or below it."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(total * percent / 100))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


def split_connections(connections: int, parts: int) -> list[int]:
    """Spread connections as evenly as possible: 16 over 3 is 6, 5, 5."""
    return [connections // parts + (1 if i < connections % parts else 0) for i in range(parts)]


def parse(text: str, url: str, connections: int) -> WrkResult:
    result = WrkResult(url=url, connections=connections)
    for line in text.splitlines():
        key, *values = line.split()
        if key == "sent":
            result.sent = int(values[0])
        elif key == "answered":
            result.answered = int(values[0])
        elif key == "started":
            result.started = float(values[0])
        elif key == "last_answer":
            result.last_answer = float(values[0])
        elif key.startswith("error_"):
            result.socket_errors[key.removeprefix("error_")] = int(values[0])
        elif key == "status":
            result.statuses[int(values[0])] += int(values[1])
        elif key == "latency_us":
            result.latency_us[int(values[0])] += int(values[1])
    return result


def wrk_command(
    wrk: str, url: str, connections: int, load_seconds: float, drain_seconds: int, out: Path
) -> list[str]:
    duration = math.ceil(load_seconds) + drain_seconds
    return [
        wrk,
        "--threads=1",
        f"--connections={connections}",
        f"--duration={duration}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        f"--script={SCRIPT}",
        url,
        "--",
        str(load_seconds),
        str(out),
    ]


def run_load(
    wrk: str,
    urls: Sequence[str],
    connections: int,
    load_seconds: float,
    drain_seconds: int,
    workdir: Path,
) -> LoadResult:
    """Run one wrk per URL at once, ``connections`` spread over them."""
    workdir.mkdir(parents=True, exist_ok=True)
    shares = split_connections(connections, len(urls))
    jobs = []
    for index, (url, share) in enumerate(zip(urls, shares, strict=True)):
        out = workdir / f"wrk-c{connections}-{index}.txt"
        out.unlink(missing_ok=True)
        command = wrk_command(wrk, url, share, load_seconds, drain_seconds, out)
        jobs.append((url, share, out, command))

    def run_one(job: tuple[str, int, Path, list[str]]) -> WrkResult:
        url, share, out, command = job
        completed = subprocess.run(  # noqa: S603 - argv list, no shell
            command,
            capture_output=True,
            text=True,
            timeout=load_seconds + drain_seconds + 60,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"wrk failed ({completed.returncode}): {' '.join(command)}\n"
                f"{completed.stdout}{completed.stderr}"
            )
        return parse(out.read_text(), url, share)

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        per_url = list(pool.map(run_one, jobs))
    return LoadResult(connections=connections, per_url=per_url)
