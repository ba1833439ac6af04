"""``python -m bench.balancer [--quick]``: what the load balancer costs.

Runs compose.yaml itself (HAProxy and three API replicas, as a user gets
them; project ``visit-counter-bench``, no host port) and puts ``GET /`` at
c=64 on it two ways, alternated in rounds within one run: straight at the
three API containers (connections split evenly, as the main benchmark does),
and through the balancer. Both go from this machine to the containers'
addresses on the project's Docker network, so they differ only by HAProxy.
It reports the ratio of the two rates, the p50 and p99 each way and the
p99 HAProxy adds, the CPU HAProxy used, and checks that the stored counts
rose by exactly the ``200`` answers each time.

Why a module of its own and not part of ``bench.run``: this needs a Docker
Engine, which the main benchmark (local gunicorn replicas and MariaDB) does
not, and which the integration tier's smoke run of it does not have.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter
from bench.load import LoadResult, run_load
from deploy.api_client import request
from deploy.commands import find_tool
from localservers.project import REPO_ROOT

PROJECT = "visit-counter-bench"
CONNECTIONS = 64
# The bench's own stack: no host port (a developer's stack may hold 8000).
OVERRIDE = """
services:
  balancer:
    ports: !reset []
"""
RESULTS = REPO_ROOT / "bench" / "results"


def docker(*args: str) -> str:
    """``docker ARGS``' output; a failure raises with its stderr's end."""
    command = [find_tool("docker", "bash ci/install-docker.sh"), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:8])} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def compose(override: Path, *args: str) -> str:
    files = ("-f", str(REPO_ROOT / "compose.yaml"), "-f", str(override))
    return docker("compose", "-p", PROJECT, "--project-directory", str(REPO_ROOT), *files, *args)


def container_info(container: str) -> tuple[str, int]:
    """The container's address on the project network, and its main PID."""
    inspect = json.loads(docker("inspect", container))[0]
    networks = inspect["NetworkSettings"]["Networks"]
    [address] = [n["IPAddress"] for n in networks.values()]
    return address, int(inspect["State"]["Pid"])


def total_visits(url: str) -> int:
    total: int = request(f"{url}/visits", timeout=10).json()["total"]
    return total


def one_way(
    wrk: str,
    urls: list[str],
    count_url: str,
    pids: dict[str, list[int]],
    seconds: tuple[float, int],
    workdir: Path,
) -> dict[str, Any]:
    """One load of GET / at c=64 over ``urls``; its rate, latency, CPU and count check."""
    meter = CpuMeter(pids)
    before = total_visits(count_url)
    meter.start()
    load: LoadResult = run_load(wrk, [f"{u}/" for u in urls], CONNECTIONS, *seconds, workdir)
    cores = meter.cores(load.seconds)
    rose = total_visits(count_url) - before
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


def run(quick: bool, results: Path = RESULTS) -> dict[str, Any]:
    wrk = find_tool("wrk", "Debian: apt-get install wrk")
    rounds, seconds = (1, (1.5, 1)) if quick else (4, (8.0, 2))
    workdir = Path(tempfile.mkdtemp(prefix="visit-counter-bench-balancer-"))
    override = workdir / "compose.bench.yaml"
    override.write_text(OVERRIDE)
    try:
        print(f"bench: starting compose.yaml as project {PROJECT}", flush=True)
        compose(override, "up", "--detach", "--build", "--wait", "--wait-timeout", "300")
        apis = compose(override, "ps", "--quiet", "api").split()
        (balancer,) = compose(override, "ps", "--quiet", "balancer").split()
        api_info = [container_info(c) for c in apis]
        balancer_address, balancer_pid = container_info(balancer)
        direct = [f"http://{address}:8000" for address, _ in api_info]
        through = [f"http://{balancer_address}:8000"]
        pids = {
            "replicas": [pid for _, pid in api_info],
            "balancer (haproxy)": [balancer_pid],
        }
        # Every worker's connection open, every health check passed.
        run_load(wrk, [f"{u}/" for u in direct + through], CONNECTIONS, 2, 1, workdir / "warmup")
        samples: dict[str, list[dict[str, Any]]] = {"direct": [], "balancer": []}
        for number in range(rounds):
            for way, urls in (("direct", direct), ("balancer", through)):
                print(
                    f"bench: round {number + 1}/{rounds}: GET / {way} at c={CONNECTIONS}",
                    flush=True,
                )
                where = workdir / f"{way}-{number}"
                samples[way].append(one_way(wrk, urls, through[0], pids, seconds, where))
        document = summarize(samples, quick)
        results.mkdir(parents=True, exist_ok=True)
        (results / "balancer.json").write_text(json.dumps(document, indent=2) + "\n")
        (results / "balancer.md").write_text(markdown(document))
        print(markdown(document))
        return document
    finally:
        try:
            compose(override, "down", "--volumes", "--remove-orphans", "--timeout", "5")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def summarize(samples: dict[str, list[dict[str, Any]]], quick: bool) -> dict[str, Any]:
    """Medians over the rounds for each way; the ratios and the added p99."""
    median = {
        way: {
            key: statistics.median(s[key] for s in runs)
            for key in ("requests_per_second", "p50_ms", "p99_ms")
        }
        for way, runs in samples.items()
    }
    balancer_cores = statistics.median(
        s["cpu_cores"]["balancer (haproxy)"] for s in samples["balancer"]
    )
    return {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": quick,
        "connections": CONNECTIONS,
        "rounds": len(samples["direct"]),
        "median": median,
        "ratio": median["balancer"]["requests_per_second"]
        / median["direct"]["requests_per_second"],
        "added_p99_ms": median["balancer"]["p99_ms"] - median["direct"]["p99_ms"],
        "balancer_cpu_cores": balancer_cores,
        "exact": all(s["exact"] for runs in samples.values() for s in runs),
        "errors": sum(s["errors"] for runs in samples.values() for s in runs),
        "rounds_detail": samples,
    }


def markdown(document: dict[str, Any]) -> str:
    median = document["median"]
    rows = [
        f"| {way} | {m['requests_per_second']:,.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} |"
        for way, m in median.items()
    ]
    return "\n".join(
        [
            f"GET / at c={document['connections']}, median of {document['rounds']} "
            f"alternating round(s){' (quick)' if document['quick'] else ''}",
            "",
            "| way | req/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"balancer / direct: {document['ratio']:.2f}x req/s; "
            f"p99 added: {document['added_p99_ms']:+.1f} ms; "
            f"HAProxy used {document['balancer_cpu_cores']:.2f} cores; "
            f"counts exact: {document['exact']}; errors: {document['errors']}",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.balancer", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round: a smoke run")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"output folder (default: {RESULTS})"
    )
    args = parser.parse_args(argv)
    document = run(args.quick, args.results)
    return 0 if document["exact"] and document["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
