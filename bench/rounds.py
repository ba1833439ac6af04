"""Two ways of serving ``GET /`` compared within one run.

A c=64 load on each way in turn, alternated in rounds, so the machine's
drift falls on both alike; each load checks that the stored total rose by
exactly its ``200`` answers. The report is the median of each figure over
the rounds and the ratio of the second way's rate to the first's.
bench.balancer (straight at the replicas, then through HAProxy) and
bench.galera (one MariaDB, then three Galera nodes) are its two uses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter
from bench.load import run_load
from deploy.commands import find_tool
from localservers.project import REPO_ROOT

CONNECTIONS = 64
RESULTS = REPO_ROOT / "bench" / "results"
MEDIAN_KEYS = ("requests_per_second", "p50_ms", "p99_ms")


@dataclass(frozen=True)
class Way:
    """Where the load goes (base URLs, the connections split evenly), how to
    read the stored total, and the processes whose CPU is metered, by part."""

    urls: list[str]
    stored_total: Callable[[], int]
    pids: dict[str, list[int]]


def one_load(wrk: str, way: Way, seconds: tuple[float, int], workdir: Path) -> dict[str, Any]:
    """One load of GET / at c=64; its rate, latency, CPU and count check."""
    meter = CpuMeter(way.pids)
    before = way.stored_total()
    meter.start()
    load = run_load(wrk, [f"{u}/" for u in way.urls], CONNECTIONS, *seconds, workdir)
    cores = meter.cores(load.seconds)
    rose = way.stored_total() - before
    return {
        "requests_per_second": load.requests_per_second,
        "p50_ms": load.percentile_ms(50),
        "p99_ms": load.percentile_ms(99),
        "errors": load.errors,
        "answered_200": load.statuses[200],
        "stored_increase": rose,
        "exact": rose == load.statuses[200],
        "cpu_cores": cores,
    }


def compare(ways: dict[str, Way], quick: bool, workdir: Path) -> dict[str, Any]:
    """Each way warmed up (every worker's connection open), then the rounds;
    the medians (the cores of each metered part too) and the ratio."""
    wrk = find_tool("wrk", "Debian: apt-get install wrk")
    rounds, seconds = (1, (1.5, 1)) if quick else (4, (8.0, 2))
    for name, way in ways.items():
        run_load(wrk, [f"{u}/" for u in way.urls], CONNECTIONS, 2, 1, workdir / f"warmup-{name}")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in ways}
    for number in range(rounds):
        for name, way in ways.items():
            print(
                f"bench: round {number + 1}/{rounds}: GET / {name} at c={CONNECTIONS}", flush=True
            )
            samples[name].append(one_load(wrk, way, seconds, workdir / f"{name}-{number}"))
    median = {
        name: {key: statistics.median(s[key] for s in runs) for key in MEDIAN_KEYS}
        | {
            f"cores: {part}": statistics.median(s["cpu_cores"][part] for s in runs)
            for part in ways[name].pids
        }
        for name, runs in samples.items()
    }
    first, second = ways
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        "connections": CONNECTIONS,
        "rounds": rounds,
        "median": median,
        "ratio": median[second]["requests_per_second"] / median[first]["requests_per_second"],
        "exact": all(s["exact"] for runs in samples.values() for s in runs),
        "errors": sum(s["errors"] for runs in samples.values() for s in runs),
        "rounds_detail": samples,
    }


def markdown(document: dict[str, Any], label: str, parts: tuple[str, ...], verdict: str) -> str:
    """The medians as a table (a column for the cores of each of ``parts``),
    then ``verdict``: the ratio's line."""
    header = " | ".join([label, "req/s", "p50 ms", "p99 ms", *(f"cores: {p}" for p in parts)])
    rows = [
        f"| {name} | {m['requests_per_second']:,.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} |"
        + "".join(f" {m[f'cores: {part}']:.2f} |" for part in parts)
        for name, m in document["median"].items()
    ]
    return "\n".join(
        [
            f"GET / at c={document['connections']}, median of {document['rounds']} "
            f"alternating round(s){' (quick)' if document['quick'] else ''}",
            "",
            f"| {header} |",
            "|---|" + "---:|" * (3 + len(parts)),
            *rows,
            "",
            f"{verdict}; counts exact: {document['exact']}; errors: {document['errors']}",
            "",
        ]
    )


def main(
    prog: str,
    description: str,
    run: Callable[[bool], tuple[dict[str, Any], str]],
    argv: list[str] | None = None,
) -> int:
    """``--quick`` and ``--results``; ``run`` returns the document and its
    Markdown, saved as PROG.json and PROG.md. 1 unless every count was exact
    and no request failed."""
    parser = argparse.ArgumentParser(prog=f"bench.{prog}", description=description)
    parser.add_argument("--quick", action="store_true", help="one short round: a smoke run")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"output folder (default: {RESULTS})"
    )
    args = parser.parse_args(argv)
    document, text = run(args.quick)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{prog}.json").write_text(json.dumps(document, indent=2) + "\n")
    (args.results / f"{prog}.md").write_text(text)
    print(text)
    return 0 if document["exact"] and document["errors"] == 0 else 1
