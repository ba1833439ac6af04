"""A private MariaDB: Debian's ``mariadb-server`` binaries on a temporary data
dir and a free loopback port. Nothing touches the machine's own MariaDB, if it
has one."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pymysql

from deploy.commands import MARIADB_SERVER, find_tool
from localservers.ports import free_port, wait_until

DB_USER = "visits"
# A throwaway password for a server that lives in a temp dir on loopback.
DB_PASSWORD = "test-only-password"  # noqa: S105


def find_mariadbd() -> str:
    return find_tool("mariadbd", MARIADB_SERVER, "mysqld")


class MariaDBServer:
    """A private mariadbd: start, stop, pause (SIGSTOP) and resume (SIGCONT)."""

    def __init__(self) -> None:
        self.mariadbd = find_mariadbd()
        self.install_db = find_tool("mariadb-install-db", MARIADB_SERVER, "mysql_install_db")
        self.client = find_tool("mariadb", "Debian: apt-get install mariadb-client", "mysql")
        self.workdir = Path(tempfile.mkdtemp(prefix="visit-counter-mariadb-"))
        self.datadir = self.workdir / "data"
        self.socket = self.workdir / "mariadb.sock"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mariadbd.log"
        # mariadbd refuses to run as root unless told which user to be.
        self.user = pwd.getpwuid(os.getuid()).pw_name

    def _args(self) -> list[str]:
        """mariadbd's command line: --no-defaults first, as it must be."""
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
            *self.server_options(),
        ]

    def server_options(self) -> list[str]:
        """Options a kind of server adds (a Galera node: localservers/galera.py)."""
        return []

    def initialize(self) -> None:
        """A fresh data dir, the server started, and the application's user."""
        self.install()
        self.start()
        self.create_user()

    def install(self) -> None:
        subprocess.run(  # noqa: S603 - argv list, no shell
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

    def create_user(self) -> None:
        self.sql(
            f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{DB_PASSWORD}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'127.0.0.1';"
        )

    def start(self, *options: str) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - argv list, no shell
                [*self._args(), *options], stdout=log, stderr=log
            )
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

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to tidy up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)
        self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def sql(self, statements: str, database: str = "") -> str:
        """Run SQL as root over the private socket; return tab-separated rows."""
        result = subprocess.run(  # noqa: S603 - argv list, no shell
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
