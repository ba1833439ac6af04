"""The multiprocess metrics directory: made private, found by the hooks, and
cleaned of what gone masters left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from api import metrics_dir


def test_prepare_makes_a_private_directory_and_exports_it(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    made = metrics_dir.prepare(environ, temp_dir=str(tmp_path))
    assert made.owned
    assert environ["PROMETHEUS_MULTIPROC_DIR"] == str(made.path)
    assert made.path.parent == tmp_path
    assert made.path.name.startswith(f"visit-counter-metrics-{os.getpid()}-")
    assert made.path.stat().st_mode & 0o777 == 0o700
    metrics_dir.remove(made)
    assert not made.path.exists()


def test_the_hooks_find_the_exported_directory(tmp_path: Path) -> None:
    assert metrics_dir.exported({}) is None
    environ: dict[str, str] = {}
    made = metrics_dir.prepare(environ, temp_dir=str(tmp_path))
    assert metrics_dir.exported(environ) == made
    users = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "mine")}
    assert metrics_dir.exported(users) == metrics_dir.MetricsDir(tmp_path / "mine", owned=False)


def test_prepare_removes_what_gone_masters_left(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    stale = [
        tmp_path / f"visit-counter-metrics-{gone.pid}-x",  # its master is gone
        tmp_path / f"visit-counter-metrics-{os.getpid()}-y",  # a master of our own PID
    ]
    live = tmp_path / f"visit-counter-metrics-{os.getppid()}-z"  # a running process's
    unrelated = tmp_path / "something-else"
    for directory in [*stale, live, unrelated]:
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"")

    made = metrics_dir.prepare({}, temp_dir=str(tmp_path))

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [made.path.name, live.name, unrelated.name]
    )


def test_a_users_directory_is_honoured_wiped_and_kept(tmp_path: Path) -> None:
    given = tmp_path / "mine"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "notes.txt").write_text("not ours")
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(given)}

    made = metrics_dir.prepare(environ, temp_dir=str(tmp_path))
    assert made.path == given
    assert not made.owned
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    metrics_dir.remove(made)
    assert given.exists()
