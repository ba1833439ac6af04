"""``--profile``: py-spy samples one replica's workers while wrk loads it.

py-spy attaches from outside (no code change, no restart), follows gunicorn's
worker processes, and samples only the thread holding the GIL: the Python
CPU time, which is what the two cores run out of. (Threads waiting on the
database or on the poller hold no GIL and are left out.) It writes
collapsed stacks; :func:`summary` ranks frames by how often they were seen.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLES_PER_SECOND = 100


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    # Installed with the dev requirements, next to this interpreter; the
    # virtualenv's bin folder need not be on PATH.
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("bench: py-spy is not installed (it is in the dev requirements)")
    command = [
        py_spy,
        "record",
        f"--pid={pid}",
        "--subprocesses",
        "--gil",
        f"--rate={SAMPLES_PER_SECOND}",
        f"--duration={max(1, int(seconds))}",
        "--format=raw",
        f"--output={out}",
        "--nonblocking",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def summary(collapsed: Path, top: int = 25) -> str:
    """The frames seen most: on top of the stack (self) and anywhere in it.

    Lines look like ``process;thread;frame;frame;... COUNT``.
    """
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    lines = [f"{total} samples", "", "self (top of stack):"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive (anywhere on the stack):"]
    lines += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in anywhere.most_common(top)]
    return "\n".join(lines) + "\n"
