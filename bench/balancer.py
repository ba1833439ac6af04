"""``python -m bench.balancer [--quick]``: what the load balancer costs.

Runs compose.yaml itself (HAProxy and three API replicas, as a user gets
them; project ``visit-counter-bench``, no host port) and puts ``GET /`` at
c=64 on it two ways, alternated in rounds within one run: straight at the
three API containers (connections split evenly, as the main benchmark does),
and through the balancer (bench.rounds). Both go from this machine to the
containers' addresses on the project's Docker network, so they differ only
by HAProxy. It reports the ratio of the two rates, the p50 and p99 each way
and the p99 HAProxy adds, the CPU HAProxy used, and checks that the stored
counts rose by exactly the ``200`` answers each time.

Why a module of its own and not part of ``bench.run``: this needs a Docker
Engine, which the main benchmark (local gunicorn replicas and MariaDB) does
not, and which the integration tier's smoke run of it does not have.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import rounds
from deploy.api_client import request
from deploy.commands import find_tool
from localservers.project import REPO_ROOT

PROJECT = "visit-counter-bench"
BALANCER = "balancer (haproxy)"
# The bench's own stack: no host port (a developer's stack may hold 8000).
OVERRIDE = """
services:
  balancer:
    ports: !reset []
"""


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


def run(quick: bool) -> tuple[dict[str, Any], str]:
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
        through = f"http://{balancer_address}:8000"
        pids = {"replicas": [pid for _, pid in api_info], BALANCER: [balancer_pid]}
        direct = [f"http://{address}:8000" for address, _ in api_info]
        ways = {
            way: rounds.Way(urls, lambda: total_visits(through), pids)
            for way, urls in (("direct", direct), ("balancer", [through]))
        }
        document = rounds.compare(ways, quick, workdir)
        median = document["median"]
        document["added_p99_ms"] = median["balancer"]["p99_ms"] - median["direct"]["p99_ms"]
        document["balancer_cpu_cores"] = median["balancer"][f"cores: {BALANCER}"]
        verdict = (
            f"balancer / direct: {document['ratio']:.2f}x req/s; "
            f"p99 added: {document['added_p99_ms']:+.1f} ms; "
            f"HAProxy used {document['balancer_cpu_cores']:.2f} cores"
        )
        return document, rounds.markdown(document, "way", (), verdict)
    finally:
        try:
            compose(override, "down", "--volumes", "--remove-orphans", "--timeout", "5")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return rounds.main("balancer", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
