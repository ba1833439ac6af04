"""The raw database ceiling: a visit's statements sent straight to MariaDB.

``mariadb-slap`` (MariaDB's own load client, in C) runs, from N concurrent
connections over loopback TCP as the application's user, what one visit
costs the database in the straightforward design: one autocommit increment of
a replica's row, then a read of every row in display order. A PyMySQL loop
would measure the Python client as much as the server: on two cores its
per-statement interpreter time competes with mariadbd and caps the figure.
slap's client cost is a small fraction, so the number is the server's.

The statements run in a database of their own with the same table and the
same three rows the API's replicas use, so the read returns the same shape of
answer and the API's counts are never touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass

from api.table import READ_COUNTS, SCHEMA
from localservers.mariadb import DB_PASSWORD, DB_USER, MariaDBServer

DATABASE = "ceiling"
REPLICAS = ("bench-a", "bench-b", "bench-c")

_SECONDS = re.compile(r"Average number of seconds to run all queries: ([0-9.]+) seconds")


@dataclass
class CeilingResult:
    clients: int
    visits: int
    seconds: float

    @property
    def visits_per_second(self) -> float:
        return self.visits / self.seconds


def visit_statements() -> list[str]:
    """A visit to each replica in turn: increment by one, then read all.

    Literal names (slap takes no parameters); they are fixed ASCII here.
    """
    statements = []
    for name in REPLICAS:
        statements.append(
            f"INSERT INTO visits (replica, count) VALUES ('{name}', 1) "  # noqa: S608 - fixed names
            "ON DUPLICATE KEY UPDATE count = count + 1"
        )
        statements.append(READ_COUNTS)
    return statements


def prepare(server: MariaDBServer) -> None:
    server.create_database(DATABASE)
    with server.connect(DATABASE) as conn, conn.cursor() as cursor:
        cursor.execute(SCHEMA)
        for name in REPLICAS:
            cursor.execute("INSERT INTO visits (replica, count) VALUES (%s, 0)", (name,))


def stored_total(server: MariaDBServer) -> int:
    return sum(server.counts(DATABASE).values())


def measure(slap: str, server: MariaDBServer, clients: int, visits: int) -> CeilingResult:
    """Run about ``visits`` visits from ``clients`` connections; count them
    from the table itself rather than trusting slap's division of work."""
    statements = visit_statements()
    before = stored_total(server)
    started = time.monotonic()
    completed = subprocess.run(  # noqa: S603 - argv list, no shell
        [
            slap,
            "--no-defaults",
            "--host=127.0.0.1",
            f"--port={server.port}",
            f"--user={DB_USER}",
            f"--create-schema={DATABASE}",
            "--no-drop",
            f"--concurrency={clients}",
            f"--number-of-queries={visits * 2}",
            "--delimiter=;",
            f"--query={';'.join(statements)}",
        ],
        # The password through the environment, not the process list.
        env={**os.environ, "MYSQL_PWD": DB_PASSWORD},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.monotonic() - started
    if completed.returncode != 0:
        raise RuntimeError(f"mariadb-slap failed: {completed.stdout}{completed.stderr}")
    match = _SECONDS.search(completed.stdout)
    seconds = float(match.group(1)) if match else wall
    done = stored_total(server) - before
    return CeilingResult(clients=clients, visits=done, seconds=max(seconds, 1e-9))
