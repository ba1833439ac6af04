"""Finding the executables the local servers need, or saying how to get them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

MARIADB_SERVER = "Debian: apt-get install mariadb-server"

# Debian installs daemons such as mariadbd in sbin, which is not on an
# ordinary user's PATH.
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class ToolMissing(RuntimeError):
    """An executable is not installed; the message names it and the fix."""


def find_tool(name: str, hint: str, *alternatives: str) -> str:
    """The absolute path of ``name`` (or of the first alternative found).

    The running virtualenv's bin/ comes first: tools installed from the lock
    file (hadolint, kubectl) live there even when it is not activated. Then
    PATH, then the system's sbin folders.
    """
    search = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath), *SYSTEM_DIRS]
    )
    for candidate in (name, *alternatives):
        path = shutil.which(candidate, path=search)
        if path is not None:
            return path
    raise ToolMissing(f"{name} is not installed" + (f" ({hint})" if hint else ""))
