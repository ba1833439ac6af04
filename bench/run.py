"""``python -m bench.run [--quick]``: the benchmark behind ``invoke bench``.

Starts a private MariaDB, 3 gunicorn replicas of the API with the production
configuration (the same helpers the integration tier uses) and 3 replicas of
the straightforward baseline (bench/baseline_app.py) on the same database and
table; with ``--original PATH``, 3 processes of the original experiment's Go
server too (bench/original.py), on its own table. Then for each concurrency
level, in one run, it measures the raw database ceiling with mariadb-slap,
each server's ``GET /`` with wrk (checking that its stored counts rose by
exactly its number of 200 answers), and each server's ``GET /healthz``, its
HTTP ceiling (not the original's: every path of it counts a visit). Last, at
the highest level, the API's ``GET /`` with and without a scraper on
``/metrics``, in alternating windows (bench/scrape_cost.py). It writes JSON,
Markdown and a PNG plot into the results folder.
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

from api.settings import ServerSettings
from bench import baseline_app, ceiling, original, profile, report, scrape_cost
from bench.load import run_load
from bench.measure import DATABASE, Counts, Server, counts_check, measure, stored_counts
from deploy.commands import MARIADB_SERVER, ToolMissing, find_tool
from localservers.mariadb import MariaDBServer
from localservers.project import REPO_ROOT
from localservers.replica import Replica, replica_env

RESULTS = REPO_ROOT / "bench" / "results"
REPLICA_NAMES = ("bench-a", "bench-b", "bench-c")
# The straightforward baseline: same database and table, rows of its own.
BASELINE_NAMES = ("baseline-a", "baseline-b", "baseline-c")
BASELINE_ARGS = ("--config", "python:bench.baseline_app")
ORIGINAL_NAMES = ("original-a", "original-b", "original-c")
LEVELS = (16, 64)


@dataclass(frozen=True)
class Plan:
    load_seconds: float
    drain_seconds: int
    warmup_seconds: float
    ceiling_visits: int
    # /metrics' cost: this many pairs of windows (one with the scraper, one
    # without), each this many seconds of load.
    scrape_pairs: int
    scrape_window_seconds: float
    quick: bool


FULL = Plan(
    load_seconds=10,
    drain_seconds=2,
    warmup_seconds=2,
    ceiling_visits=40_000,
    # Windows of one kind spread by about 15 % on the shared machine: 4 pairs.
    scrape_pairs=4,
    scrape_window_seconds=4,
    quick=False,
)
# A smoke run: every step, a few seconds each.
QUICK = Plan(
    load_seconds=1.5,
    drain_seconds=1,
    warmup_seconds=0.5,
    ceiling_visits=2_000,
    scrape_pairs=1,
    scrape_window_seconds=1.5,
    quick=True,
)


TOOLS = {
    "wrk": "Debian: apt-get install wrk",
    "mariadb-slap": "Debian: apt-get install mariadb-client",
    "mariadbd": MARIADB_SERVER,
}


def bench_env(server: MariaDBServer) -> dict[str, str]:
    # WEB_CONCURRENCY is left to the production default.
    env = replica_env(server, DATABASE)
    if "WEB_CONCURRENCY" in os.environ:
        env["WEB_CONCURRENCY"] = os.environ["WEB_CONCURRENCY"]
    return env


def version(command: list[str]) -> str:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return (completed.stdout + completed.stderr).strip().splitlines()[0]


def _line(label: str, result: dict[str, Any]) -> str:
    exact = f", counts exact: {result['counts']['exact']}" if "counts" in result else ""
    return (
        f"{label}: {result['requests_per_second']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, {result['errors']} errors{exact}; cores: "
        + ", ".join(f"{name} {n:.2f}" for name, n in result["cpu_cores"].items())
    )


def measure_level(
    plan: Plan,
    connections: int,
    tools: dict[str, str],
    server: MariaDBServer,
    fleets: dict[str, list[Server]],
    counts: dict[str, Counts],
    workdir: Path,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    """The ceiling, then each server's visits, then each server's /healthz."""
    print(f"bench: c={connections}: database ceiling (mariadb-slap)", flush=True)
    db = ceiling.measure(tools["mariadb-slap"], server, connections, plan.ceiling_visits)
    seconds = (plan.load_seconds, plan.drain_seconds)
    results: dict[str, dict[str, dict[str, Any]]] = {path: {} for path in ("/", "/healthz")}
    for path in results:
        for kind, replicas in fleets.items():
            if path != "/" and kind == "original":
                continue  # the original counts a visit on every path
            label = f"bench: c={connections}: {kind} GET {path}"
            print(f"{label} (wrk, {plan.load_seconds:g} s)", flush=True)
            profiler = None
            if profile_to is not None and kind == "api" and path == "/" and replicas[0].process:
                print(f"bench: c={connections}: py-spy on {replicas[0].name}", flush=True)
                profiler = profile.start(replicas[0].process.pid, plan.load_seconds, profile_to)
            where = workdir / kind / path.strip("/")
            result = measure(
                tools["wrk"], server, replicas, path, connections, seconds, where, counts[kind]
            )
            results[path][kind] = result
            if profiler is not None and profile_to is not None:
                profiler.wait(timeout=60)
                summary = profile_to.with_suffix(".txt")
                summary.write_text(profile.summary(profile_to))
                print(f"bench: profile: {profile_to} (summary: {summary})", flush=True)
            print(_line(label, result), flush=True)

    api, baseline = results["/"]["api"], results["/"]["baseline"]
    healthz = results["/healthz"]
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
        "cpu_cores": api["cpu_cores"],
        "counts": api["counts"],
        "baseline": baseline,
        "healthz": healthz,
        "vs_baseline": {
            "requests_per_second": api["requests_per_second"] / baseline["requests_per_second"],
            "p99_ms": {"api": api["p99_ms"], "baseline": baseline["p99_ms"]},
            "p99_lower": api["p99_ms"] < baseline["p99_ms"],
        },
        # How close each server's GET / comes to its own HTTP ceiling.
        "share_of_healthz": {
            kind: results["/"][kind]["requests_per_second"] / healthz[kind]["requests_per_second"]
            for kind in healthz
        },
    }
    if "original" in results["/"]:
        first = results["/"]["original"]
        level["original"] = first
        level["vs_original"] = {
            "requests_per_second": api["requests_per_second"] / first["requests_per_second"],
            "p99_ms": {"api": api["p99_ms"], "original": first["p99_ms"]},
            "p99_lower": api["p99_ms"] < first["p99_ms"],
        }
    vs = level["vs_baseline"]
    print(
        f"bench: c={connections}: API / baseline {vs['requests_per_second']:.2f} x req/s; "
        f"p99 {api['p99_ms']:.1f} vs {baseline['p99_ms']:.1f} ms; "
        f"ceiling {db.visits_per_second:,.0f} visits/s",
        flush=True,
    )
    return level


def measure_scrape_cost(
    plan: Plan, tools: dict[str, str], server: MariaDBServer, replicas: list[Replica], workdir: Path
) -> dict[str, Any]:
    """The API's GET / at the highest level, with and without a scraper on /metrics."""
    connections = max(LEVELS)
    windows = iter(range(2 * plan.scrape_pairs))
    seconds = (plan.scrape_window_seconds, plan.drain_seconds)

    def load() -> dict[str, Any]:
        where = workdir / f"window-{next(windows)}"
        return measure(tools["wrk"], server, replicas, "/", connections, seconds, where)

    print(
        f"bench: c={connections}: api GET / with and without {scrape_cost.SCRAPES_PER_SECOND} "
        f"scrapes/s of /metrics per replica ({2 * plan.scrape_pairs} windows of "
        f"{plan.scrape_window_seconds:g} s)",
        flush=True,
    )
    urls = [f"{r.url}/metrics" for r in replicas]
    result = scrape_cost.alternate(plan.scrape_pairs, load, plan.scrape_window_seconds, urls)
    result["connections"] = connections
    print(
        f"bench: c={connections}: with / without the scraper {result['ratio']:.3f} x req/s; "
        f"one scrape p50 {result['scrape']['p50_ms']:.1f} ms, "
        f"p99 {result['scrape']['p99_ms']:.1f} ms",
        flush=True,
    )
    return result


def warm_up(
    plan: Plan, tools: dict[str, str], counts: Counts, replicas: list[Server], workdir: Path
) -> dict[str, Any]:
    """Open every worker's (or thread's) connection before measuring; checked too."""
    names = {f"{r.url}/": r.name for r in replicas}
    before = counts()
    load = run_load(
        tools["wrk"], list(names), max(LEVELS), plan.warmup_seconds, plan.drain_seconds, workdir
    )
    return counts_check(before, counts(), load, names)


def run(
    plan: Plan, results: Path, profiled: bool = False, original_binary: Path | None = None
) -> dict[str, Any]:
    tools = {name: find_tool(name, hint) for name, hint in TOOLS.items()}
    workdir = Path(tempfile.mkdtemp(prefix="visit-counter-bench-"))
    server = MariaDBServer()
    fleets: dict[str, list[Server]] = {}
    try:
        print(f"bench: starting MariaDB on 127.0.0.1:{server.port}", flush=True)
        server.initialize()
        server.create_database(DATABASE)
        ceiling.prepare(server)
        env = bench_env(server)
        fleets = {
            "api": [Replica(name, env) for name in REPLICA_NAMES],
            "baseline": [Replica(name, env, BASELINE_ARGS) for name in BASELINE_NAMES],
        }
        counts: dict[str, Counts] = {
            "api": lambda: stored_counts(server),
            "baseline": lambda: stored_counts(server),
        }
        if original_binary is not None:
            fleets["original"] = [
                original.OriginalReplica(name, original_binary, server, DATABASE)
                for name in ORIGINAL_NAMES
            ]
            counts["original"] = lambda: original.stored_counts(server, DATABASE)
        for replicas in fleets.values():
            for replica in replicas:
                replica.start()
        for kind, replicas in fleets.items():
            print(f"bench: {kind} at {', '.join(r.url for r in replicas)}", flush=True)

        warmup = {
            kind: warm_up(plan, tools, counts[kind], replicas, workdir / "warmup" / kind)
            for kind, replicas in fleets.items()
        }
        results.mkdir(parents=True, exist_ok=True)
        levels = [
            measure_level(
                plan,
                c,
                tools,
                server,
                fleets,
                counts,
                workdir / f"c{c}",
                results / f"profile-c{c}.collapsed" if profiled and c == max(LEVELS) else None,
            )
            for c in LEVELS
        ]
        api_replicas = [r for r in fleets["api"] if isinstance(r, Replica)]
        scraping = measure_scrape_cost(plan, tools, server, api_replicas, workdir / "scrape")
        server_settings = ServerSettings.from_env(bench_env(server))
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
                "replicas": len(fleets["api"]),
                "workers": server_settings.workers,
                "load_seconds": plan.load_seconds,
                "drain_seconds": plan.drain_seconds,
                "ceiling_visits": plan.ceiling_visits,
                "scrape_window_seconds": plan.scrape_window_seconds,
                "baseline": {
                    "replicas": len(fleets["baseline"]),
                    "server": "Falcon WSGI under gunicorn gthread (bench/baseline_app.py)",
                    "workers": baseline_app.workers,
                    "threads": baseline_app.threads,
                    "statements_per_visit": 2,
                    "connections": "one per thread",
                },
                **(
                    {
                        "original": {
                            "replicas": len(fleets["original"]),
                            "server": "the original experiment's Go server (bench/original.py)",
                            "binary": str(original_binary),
                            "statements_per_visit": 4,
                        }
                    }
                    if original_binary is not None
                    else {}
                ),
            },
            "warmup_counts": warmup["api"],
            "baseline_warmup_counts": warmup["baseline"],
            "levels": levels,
            "scrape_cost": scraping,
            "exact": all(check["exact"] for check in warmup.values())
            and all(level[kind]["counts"]["exact"] for level in levels for kind in fleets)
            and scraping["exact"],
        }
        paths = report.write(document, results)
        print(report.markdown_table(document))
        for kind, path in paths.items():
            print(f"bench: {kind}: {path}")
        return document
    finally:
        for replicas in fleets.values():
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
    parser.add_argument(
        "--original",
        metavar="PATH",
        help="also run the original Go server, built by bench/build-original.sh",
    )
    args = parser.parse_args(argv)
    binary = original.check_binary(args.original) if args.original else None
    try:
        plan = QUICK if args.quick else FULL
        document = run(plan, args.results, profiled=args.profile, original_binary=binary)
    except ToolMissing as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    if not document["exact"]:
        print("bench: stored counts do not match the 200 answers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
