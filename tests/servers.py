"""Real servers on loopback for tests: a private MariaDB and gunicorn replicas.

MariaDB runs from Debian's ``mariadb-server`` binaries on a private data dir
and port; nothing touches the machine's own MariaDB, if it has one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pymysql

from tests.tooling import REPO_ROOT, missing

DB_USER = "visits"
# A throwaway password for a server that lives in a temp dir on loopback.
DB_PASSWORD = "test-only-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def find_mariadbd() -> str:
    for candidate in ("mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld"):
        path = shutil.which(candidate)
        if path:
            return path
    missing("mariadbd is not installed (Debian: apt-get install mariadb-server)")
    raise AssertionError("unreachable")


class MariaDBServer:
    """A private mariadbd: start, stop, pause (SIGSTOP) and resume (SIGCONT)."""

    def __init__(self) -> None:
        self.mariadbd = find_mariadbd()
        self.install_db = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if self.install_db is None:
            missing("mariadb-install-db is not installed (Debian: apt-get install mariadb-server)")
        self.client = shutil.which("mariadb") or shutil.which("mysql") or "mariadb"
        self.workdir = Path(tempfile.mkdtemp(prefix="visit-counter-mariadb-"))
        self.datadir = self.workdir / "data"
        self.socket = self.workdir / "mariadb.sock"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mariadbd.log"
        # mariadbd refuses to run as root unless told which user to be.
        self.user = pwd.getpwuid(os.getuid()).pw_name

    def _args(self) -> list[str]:
        return [
            self.mariadbd,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--user={self.user}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=48M",
            "--max-connections=500",
            f"--log-error={self.log_path}",
            f"--pid-file={self.workdir / 'mariadbd.pid'}",
        ]

    def initialize(self) -> None:
        assert self.install_db is not None
        subprocess.run(
            [
                self.install_db,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--user={self.user}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        self.start()
        self.sql(
            f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'127.0.0.1';"
        )

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self._args(), stdout=log, stderr=log)
        wait_until(self._answers, 60, f"mariadbd on port {self.port} (log: {self.log_path})")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"mariadbd exited: {self.log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """A clean shutdown, as `docker stop` would do."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)  # a paused server cannot shut down
        self.process.terminate()
        self.process.wait(timeout=60)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def sql(self, statements: str, database: str = "") -> str:
        """Run SQL as root over the private socket; return tab-separated rows."""
        result = subprocess.run(
            [
                self.client,
                "--no-defaults",
                f"--socket={self.socket}",
                "-u",
                "root",
                "--batch",
                "--skip-column-names",
                "-e",
                statements,
                database,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return result.stdout.decode()

    def connect(self, database: str | None = None) -> pymysql.connections.Connection[Any]:
        """A client connection as the application's user, over TCP."""
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user=DB_USER,
            password=DB_PASSWORD,
            database=database,
            charset="utf8mb4",
            autocommit=True,
        )

    def counts(self, database: str) -> dict[str, int]:
        """Every stored count, read straight from the table."""
        with self.connect(database) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT replica, count FROM visits")
            return {name: int(count) for name, count in cursor.fetchall()}

    def create_database(self, name: str) -> None:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Replica:
    """One API replica: `gunicorn` with the project's config (gunicorn.conf.py),
    or with ``gunicorn_args`` added (the benchmark's baseline names its own)."""

    def __init__(
        self, name: str, env: Mapping[str, str], gunicorn_args: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.gunicorn_args = list(gunicorn_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="visit-counter-gunicorn-", suffix=".log")[1])
        self.env = {**os.environ, **env, "REPLICA_NAME": name}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    *self.gunicorn_args,
                ],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        wait_until(self._healthy, 30, f"replica {self.name!r} (log: {self.log_path})")

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def worker_pids(self) -> set[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log_path.unlink(missing_ok=True)
