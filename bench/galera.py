"""``python -m bench.galera [--quick]``: what the Galera database costs.

Starts one private MariaDB and a private three-node Galera cluster on
loopback (localservers/), three API replicas on each (the same code; the
Galera ones name all three nodes in DB_HOST and write to the first), and
compares ``GET /`` on the two fleets in alternating rounds (bench.rounds):
the ratio of the rates, the p50 and p99 of each, the CPU cores the replicas
and the database servers used (where the time goes), and exact counts.

A module of its own, like bench/balancer.py: the main benchmark compares the
API with other servers on one database; this compares databases under one
API.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import rounds
from localservers.galera import GaleraCluster
from localservers.mariadb import MariaDBServer
from localservers.replica import Replica, replica_env

DATABASE = "visits"
PARTS = ("replicas", "database (mariadbd)")


def pids(servers: Sequence[MariaDBServer | Replica]) -> list[int]:
    return [server.process.pid for server in servers if server.process is not None]


def run(quick: bool) -> tuple[dict[str, Any], str]:
    workdir = Path(tempfile.mkdtemp(prefix="visit-counter-bench-galera-"))
    single, galera = MariaDBServer(), GaleraCluster()
    fleets: dict[str, list[Replica]] = {}
    try:
        print("bench: starting one MariaDB and a three-node Galera cluster", flush=True)
        single.initialize()
        single.create_database(DATABASE)
        galera.start()
        galera.create_database(DATABASE)
        env = replica_env(single, DATABASE)
        fleets = {
            "single": [Replica(f"single-{n}", env) for n in "abc"],
            "galera": [Replica(f"galera-{n}", {**env, "DB_HOST": galera.db_host}) for n in "abc"],
        }
        for replica in (r for replicas in fleets.values() for r in replicas):
            replica.start()
        ways = {
            "single": rounds.Way(
                [r.url for r in fleets["single"]],
                lambda: sum(single.counts(DATABASE).values()),
                {"replicas": pids(fleets["single"]), "database (mariadbd)": pids([single])},
            ),
            "galera": rounds.Way(
                [r.url for r in fleets["galera"]],
                lambda: sum(galera.counts(DATABASE).values()),
                {"replicas": pids(fleets["galera"]), "database (mariadbd)": pids(galera.nodes)},
            ),
        }
        document = rounds.compare(ways, quick, workdir)
        verdict = f"galera / single: {document['ratio']:.2f}x req/s"
        return document, rounds.markdown(document, "database", PARTS, verdict)
    finally:
        for replica in (r for replicas in fleets.values() for r in replicas):
            replica.stop()
        single.destroy()
        galera.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return rounds.main("galera", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
