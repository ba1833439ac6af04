"""One server's replicas under one wrk load: visits with the exact-count
check, or ``/healthz`` (the HTTP ceiling: the same load on a route that does
no work), with the CPU each part of the machine used meanwhile."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pymysql

from bench.cpu import CpuMeter
from bench.load import LoadResult, run_load
from localservers.mariadb import MariaDBServer

Counts = Callable[[], dict[str, int]]


class Server(Protocol):
    """What a measurement needs of a replica: an API one, the baseline's, or
    the original's (bench/original.py)."""

    name: str
    url: str
    process: Any

    def start(self) -> None: ...

    def stop(self) -> None: ...


NO_SUCH_TABLE = 1146
DATABASE = "visits"


def stored_counts(server: MariaDBServer) -> dict[str, int]:
    """The counts in the table; none before the first visit has created it."""
    try:
        return server.counts(DATABASE)
    except pymysql.ProgrammingError as exc:
        if exc.args[0] == NO_SUCH_TABLE:
            return {}
        raise


def counts_check(
    before: dict[str, int], after: dict[str, int], load: LoadResult, names: dict[str, str]
) -> dict[str, Any]:
    """Stored counts must have risen by exactly the 200s each replica answered."""
    oks = {names[r.url]: r.statuses[200] for r in load.per_url}
    rose = {name: after.get(name, 0) - before.get(name, 0) for name in oks}
    return {"answered_200": oks, "stored_increase": rose, "exact": oks == rose}


def load_summary(load: LoadResult, names: dict[str, str]) -> dict[str, Any]:
    return {
        "requests_per_second": load.requests_per_second,
        "p50_ms": load.percentile_ms(50),
        "p99_ms": load.percentile_ms(99),
        "p999_ms": load.percentile_ms(99.9),
        "errors": load.errors,
        "answered": load.answered,
        "unanswered": load.unanswered,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "socket_errors": dict(load.socket_errors),
        "seconds": load.seconds,
        "per_replica": {
            names[r.url]: {
                "connections": r.connections,
                "answered": r.answered,
                "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
            }
            for r in load.per_url
        },
    }


def measure(
    wrk: str,
    server: MariaDBServer,
    replicas: Sequence[Server],
    path: str,
    connections: int,
    seconds: tuple[float, int],
    workdir: Path,
    counts: Counts | None = None,
) -> dict[str, Any]:
    """Load ``path`` on every replica at once; summary, CPU cores and, for
    ``/``, the count check (``counts`` reads the stored counts: the API's
    table by default)."""
    read_counts = counts or (lambda: stored_counts(server))
    names = {f"{r.url}{path}": r.name for r in replicas}
    load_seconds, drain_seconds = seconds
    meter = CpuMeter(
        {
            "replicas": [r.process.pid for r in replicas if r.process],
            "database (mariadbd)": [server.process.pid] if server.process else [],
        }
    )
    before = read_counts()
    meter.start()
    load = run_load(wrk, list(names), connections, load_seconds, drain_seconds, workdir)
    cores = meter.cores(load.seconds)
    after = read_counts()
    result = load_summary(load, names)
    result["cpu_cores"] = cores
    if path == "/":
        result["counts"] = counts_check(before, after, load, names)
    return result
