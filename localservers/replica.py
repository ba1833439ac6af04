"""One API replica: gunicorn on a free loopback port, and the environment that
points it at a private MariaDB."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from localservers.mariadb import DB_PASSWORD, DB_USER, MariaDBServer
from localservers.ports import free_port, wait_until
from localservers.project import REPO_ROOT


def replica_env(server: MariaDBServer, database: str) -> dict[str, str]:
    """The settings that connect a replica to ``database`` on ``server``."""
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(server.port),
        "DB_NAME": database,
        "DB_USER": DB_USER,
        "DB_PASSWORD": DB_PASSWORD,
    }


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
            self.process = subprocess.Popen(  # noqa: S603 - argv list, no shell
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

    @property
    def master_pid(self) -> int:
        """The gunicorn master's process id; the replica must have started."""
        assert self.process is not None, "the replica has not started"
        return self.process.pid

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log_path.unlink(missing_ok=True)
