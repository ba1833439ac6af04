"""The one error type of the deploy tasks, and how every ``main()`` ends.

Only the standard library: this also runs inside the VM with its system python3.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class DeployError(RuntimeError):
    """Bad input, a missing tool or a failed step; the message is one line for the user."""


class CommandFailed(DeployError):
    """An external command exited non-zero; the message names it and its last error line."""


def exit_status(prog: str, task: Callable[[], object]) -> int:
    """Run a command-line task: 0, or 1 after its one-line error on stderr."""
    try:
        task()
    except DeployError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0
