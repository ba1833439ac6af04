"""The directory where every gunicorn worker keeps its metrics' samples.

prometheus-client's multiprocess mode has each process write its samples to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``; a scrape merges them all.
gunicorn's master (gunicorn.conf.py's hooks) calls these functions: it makes
the directory before the first worker starts, so every worker inherits the
variable, drops a dead worker's live gauges, and removes the directory when it
exits. The hooks find the directory in the master's environment, not in a
variable of the config: gunicorn reads its config afresh on SIGHUP.

The image's root filesystem is read-only and only the temp dir is writable (a
tmpfs under Compose, an emptyDir in Kubernetes), so the directory is a fresh,
private (0700) one there. An emptyDir outlives a container restart, and a
master killed outright cannot clean up, so start-up also removes directories
that this user's earlier masters left behind: those of masters that are gone,
and one of our own PID (a restarted container's master is PID 1 again).

A ``PROMETHEUS_MULTIPROC_DIR`` set by the user (a volume of its own, say) is
honoured: created if missing, its sample files wiped at start, as the client
requires, and left in place at exit. Never point two servers at one directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "visit-counter-metrics-"


@dataclass(frozen=True)
class MetricsDir:
    path: Path
    # Made here, so removed at exit; a user's directory stays.
    owned: bool


def prepare(
    environ: MutableMapping[str, str] | None = None, temp_dir: str | None = None
) -> MetricsDir:
    """Make (or wipe) the directory and export it in ``environ``."""
    environ = os.environ if environ is None else environ
    given = environ.get(VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return MetricsDir(path, owned=False)
    parent = Path(temp_dir or tempfile.gettempdir())
    remove_stale(parent)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
    environ[VARIABLE] = str(path)
    return MetricsDir(path, owned=True)


def exported(environ: Mapping[str, str] | None = None) -> MetricsDir | None:
    """The directory ``prepare`` exported, if any; owned if this process made it."""
    environ = os.environ if environ is None else environ
    given = environ.get(VARIABLE)
    if not given:
        return None
    path = Path(given)
    return MetricsDir(path, owned=path.name.startswith(f"{PREFIX}{os.getpid()}-"))


def remove_stale(parent: Path) -> list[Path]:
    """Remove this user's directories whose master is gone or had our PID."""
    removed = []
    for candidate in parent.glob(f"{PREFIX}*"):
        pid = candidate.name.removeprefix(PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not _ours(candidate):
            continue
        if int(pid) == os.getpid() or not _alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def _ours(path: Path) -> bool:
    # A real directory of this user: never follow a link someone else planted.
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_exited(directory: MetricsDir, pid: int) -> None:
    """Drop a dead worker's live gauges; its counters and histograms stay,
    so totals never go down when a worker is replaced."""
    # Imported here, never at the config's import: prometheus-client picks
    # its storage when first imported, and must see the variable set first.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(directory.path))  # type: ignore[no-untyped-call]


def remove(directory: MetricsDir) -> None:
    if directory.owned:
        with contextlib.suppress(OSError):
            shutil.rmtree(directory.path)
