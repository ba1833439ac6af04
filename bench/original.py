"""The original experiment's Go server as a contender (``invoke bench
--original PATH``): the server this project replaces, measured beside it.

The binary speaks the original's contract, built as docs/performance.md says
(bench/build-original.sh changes only the port, the listening address and
the name): ``PORT`` (else 80), ``HOST`` (else every address),
``MYSQL_USER``/``MYSQL_PASSWORD``/``MYSQL_DATABASE``,
``DB_SERVICE_SERVICE_HOST``/``_PORT``, and ``REPLICA_NAME`` (else the
hostname) as its name. Per request it runs BEGIN, ``INSERT … ON DUPLICATE
KEY UPDATE``, ``SELECT *`` and COMMIT on its own table, ``visitstracker``,
whose counts the benchmark checks as exactly as the API's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pymysql

from localservers.mariadb import DB_PASSWORD, DB_USER, MariaDBServer
from localservers.ports import free_port, wait_until

TABLE = "visitstracker"
NO_SUCH_TABLE = 1146
BUILD_HINT = "build it with bench/build-original.sh (docs/performance.md)"


def check_binary(path: str) -> Path:
    """The contender's path, or one line saying what is wrong with it."""
    binary = Path(path).resolve()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise SystemExit(f"bench: --original {path}: no executable there; {BUILD_HINT}")
    return binary


class OriginalReplica:
    """One process of the original server on a free loopback port; the same
    attributes the benchmark reads from an API replica."""

    def __init__(self, name: str, binary: Path, server: MariaDBServer, database: str) -> None:
        self.name = name
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="visit-counter-original-", suffix=".log")[1])
        self.env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "REPLICA_NAME": name,
            "MYSQL_USER": DB_USER,
            "MYSQL_PASSWORD": DB_PASSWORD,
            "MYSQL_DATABASE": database,
            "DB_SERVICE_SERVICE_HOST": "127.0.0.1",
            "DB_SERVICE_SERVICE_PORT": str(server.port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the binary the user named
                [str(self.binary)], env=self.env, stdout=log, stderr=log
            )
        wait_until(self._listening, 30, f"original {self.name!r} (log: {self.log_path})")

    def _listening(self) -> bool:
        # A connection only: every path of the original counts a visit.
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the original exited: {self.log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log_path.unlink(missing_ok=True)


def stored_counts(server: MariaDBServer, database: str) -> dict[str, int]:
    """The original's counts, straight from its table (none before it exists)."""
    try:
        with server.connect(database) as conn, conn.cursor() as cursor:
            cursor.execute(f"SELECT containername, visits FROM {TABLE}")  # noqa: S608 - a constant
            return {name: int(visits) for name, visits in cursor.fetchall()}
    except pymysql.ProgrammingError as exc:
        if exc.args[0] == NO_SUCH_TABLE:
            return {}
        raise
