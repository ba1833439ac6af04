"""``python -m bench.run [--quick]``: the benchmark behind ``invoke bench``.

Starts a private MariaDB and 3 gunicorn replicas with the production
configuration (the same helpers the integration tier uses), then for each
concurrency level measures the raw database ceiling with mariadb-slap and the
API with wrk, checks that the stored counts rose by exactly the number of 200
answers, and writes JSON, Markdown and a PNG plot into the results folder.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

from api.settings import ServerSettings
from bench import ceiling, profile, report
from bench.cpu import CpuMeter
from bench.load import LoadResult, run_load
from tests.servers import DB_PASSWORD, DB_USER, MariaDBServer, Replica

NO_SUCH_TABLE = 1146
REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
DATABASE = "visits"
REPLICA_NAMES = ("bench-a", "bench-b", "bench-c")
LEVELS = (16, 64)


@dataclass(frozen=True)
class Plan:
    load_seconds: float
    drain_seconds: int
    warmup_seconds: float
    ceiling_visits: int
    quick: bool


FULL = Plan(load_seconds=10, drain_seconds=2, warmup_seconds=2, ceiling_visits=40_000, quick=False)
# A smoke run: every step, a few seconds each.
QUICK = Plan(
    load_seconds=1.5, drain_seconds=1, warmup_seconds=0.5, ceiling_visits=2_000, quick=True
)


def require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        sys.exit(
            f"bench: {name} is not installed (Debian: sudo bash ci/install-system-packages.sh)"
        )
    return path


def replica_env(server: MariaDBServer) -> dict[str, str]:
    # WEB_CONCURRENCY is left to the production default.
    env = {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(server.port),
        "DB_NAME": DATABASE,
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
    }
    if "WEB_CONCURRENCY" in os.environ:
        env["WEB_CONCURRENCY"] = os.environ["WEB_CONCURRENCY"]
    return env


def version(command: list[str]) -> str:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return (completed.stdout + completed.stderr).strip().splitlines()[0]


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


def api_summary(load: LoadResult, names: dict[str, str]) -> dict[str, Any]:
    return {
        "requests_per_second": load.requests_per_second,
        "p50_ms": load.percentile_ms(50),
        "p99_ms": load.percentile_ms(99),
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


def measure_level(
    plan: Plan,
    connections: int,
    tools: dict[str, str],
    server: MariaDBServer,
    replicas: list[Replica],
    workdir: Path,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    names = {f"{r.url}/": r.name for r in replicas}
    urls = list(names)

    print(f"bench: c={connections}: database ceiling (mariadb-slap)", flush=True)
    db = ceiling.measure(tools["mariadb-slap"], server, connections, plan.ceiling_visits)

    print(f"bench: c={connections}: API (wrk, {plan.load_seconds:g} s)", flush=True)
    profiler = None
    if profile_to is not None and replicas[0].process is not None:
        print(f"bench: c={connections}: py-spy on {replicas[0].name}", flush=True)
        profiler = profile.start(replicas[0].process.pid, plan.load_seconds, profile_to)
    meter = CpuMeter(
        {
            "API replicas (gunicorn)": [r.process.pid for r in replicas if r.process],
            "database (mariadbd)": [server.process.pid] if server.process else [],
        }
    )
    before = stored_counts(server)
    meter.start()
    load = run_load(tools["wrk"], urls, connections, plan.load_seconds, plan.drain_seconds, workdir)
    cores = meter.cores(load.seconds)
    after = stored_counts(server)
    if profiler is not None and profile_to is not None:
        profiler.wait(timeout=60)
        summary = profile_to.with_suffix(".txt")
        summary.write_text(profile.summary(profile_to))
        print(f"bench: profile: {profile_to} (summary: {summary})", flush=True)

    api = api_summary(load, names)
    level = {
        "connections": connections,
        "api": api,
        "ceiling": {
            "tool": "mariadb-slap",
            "clients": db.clients,
            "visits": db.visits,
            "seconds": db.seconds,
            "visits_per_second": db.visits_per_second,
        },
        "api_to_ceiling": api["requests_per_second"] / db.visits_per_second,
        # Average CPU cores each part used while the API was under load.
        "cpu_cores": cores,
        "counts": counts_check(before, after, load, names),
    }
    print(
        f"bench: c={connections}: {api['requests_per_second']:,.0f} req/s, "
        f"p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms, {api['errors']} errors; "
        f"ceiling {db.visits_per_second:,.0f} visits/s; "
        f"counts exact: {level['counts']['exact']}; cores: "
        + ", ".join(f"{name} {n:.2f}" for name, n in cores.items()),
        flush=True,
    )
    return level


def warm_up(
    plan: Plan, tools: dict[str, str], server: MariaDBServer, replicas: list[Replica], workdir: Path
) -> dict[str, Any]:
    """Open every worker thread's connection before measuring; checked too."""
    names = {f"{r.url}/": r.name for r in replicas}
    before = stored_counts(server)
    load = run_load(
        tools["wrk"],
        list(names),
        max(LEVELS),
        plan.warmup_seconds,
        plan.drain_seconds,
        workdir / "warmup",
    )
    return counts_check(before, stored_counts(server), load, names)


def run(plan: Plan, results: Path, profiled: bool = False) -> dict[str, Any]:
    tools = {name: require(name) for name in ("wrk", "mariadb-slap", "mariadbd")}
    workdir = Path(tempfile.mkdtemp(prefix="visit-counter-bench-"))
    server = MariaDBServer()
    replicas: list[Replica] = []
    try:
        print(f"bench: starting MariaDB on 127.0.0.1:{server.port}", flush=True)
        server.initialize()
        server.create_database(DATABASE)
        ceiling.prepare(server)
        env = replica_env(server)
        replicas = [Replica(name, env) for name in REPLICA_NAMES]
        for replica in replicas:
            replica.start()
        print(f"bench: replicas at {', '.join(r.url for r in replicas)}", flush=True)

        warmup = warm_up(plan, tools, server, replicas, workdir)
        results.mkdir(parents=True, exist_ok=True)
        levels = [
            measure_level(
                plan,
                c,
                tools,
                server,
                replicas,
                workdir / f"c{c}",
                results / f"profile-c{c}.collapsed" if profiled and c == max(LEVELS) else None,
            )
            for c in LEVELS
        ]
        server_settings = ServerSettings.from_env(replica_env(server))
        document: dict[str, Any] = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "quick": plan.quick,
            # py-spy takes CPU from the servers: a profiled run's figures are low.
            "profiled": profiled,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "mariadb": version([tools["mariadbd"], "--version"]).split(" Ver ")[-1],
                "wrk": version([tools["wrk"], "--version"]).split(" [")[0],
            },
            "settings": {
                "replicas": len(replicas),
                "workers": server_settings.workers,
                "load_seconds": plan.load_seconds,
                "drain_seconds": plan.drain_seconds,
                "ceiling_visits": plan.ceiling_visits,
            },
            "warmup_counts": warmup,
            "levels": levels,
            "exact": warmup["exact"] and all(level["counts"]["exact"] for level in levels),
        }
        paths = report.write(document, results)
        print(report.markdown_table(document))
        for kind, path in paths.items():
            print(f"bench: {kind}: {path}")
        return document
    finally:
        for replica in replicas:
            replica.stop()
        server.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"output folder (default: {RESULTS})"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record a py-spy profile of one replica during the c=64 load",
    )
    args = parser.parse_args(argv)
    document = run(QUICK if args.quick else FULL, args.results, profiled=args.profile)
    if not document["exact"]:
        print("bench: stored counts do not match the 200 answers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
