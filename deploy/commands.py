"""Running the external commands of the deploy and drill tasks.

Every step is printed first, as ``+ command`` (a step that is no command, an
HTTP check or a file written, as ``+ what it does``), then handed to the
runner's executor: the real one runs it; a dry run's, :func:`print_only`,
runs nothing, so a dry run prints exactly what a real run would do; tests
inject a scripted one. kubectl goes through :class:`Kubectl`: plain
``kubectl`` or ``k3s kubectl`` inside the VM, with or without a kubeconfig.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from deploy.errors import CommandFailed, DeployError
from deploy.tools import find_tool

Argv = list[str]
T = TypeVar("T")


@dataclass(frozen=True)
class Kubectl:
    """How to run kubectl: ``command`` is kubectl itself (``kubectl``, ``k3s
    kubectl``); ``kubeconfig``, when set, is passed to every call."""

    command: tuple[str, ...] = ("kubectl",)
    kubeconfig: str = ""

    @classmethod
    def from_command_line(cls, command: str = "kubectl", kubeconfig: str = "") -> Kubectl:
        words = tuple(shlex.split(command))
        if not words:
            raise DeployError("--kubectl is empty: give a command, e.g. kubectl or 'k3s kubectl'")
        return cls(command=words, kubeconfig=kubeconfig)

    def __call__(self, *args: str) -> Argv:
        kubeconfig = ["--kubeconfig", self.kubeconfig] if self.kubeconfig else []
        return [*self.command, *kubeconfig, *args]

    @property
    def executable(self) -> str:
        """The program that must be installed where this runs."""
        return self.command[0]


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str = ""
    stderr: str = ""


# Runs a pipeline (one argv, or a producer piped into a consumer) and reports
# how it ended; ``capture`` asks for the last stage's output.
Executor = Callable[[Sequence[Argv], str | None, bool], Completed]


def run_pipeline(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
    """The real executor: no shell, one process per stage, each program found
    the way the preflight checks found it."""
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


def print_only(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
    """The dry run's executor: nothing runs, so a command's output is empty."""
    return Completed(0)


class Runner:
    """Prints each step, then hands it to ``execute``."""

    def __init__(self, execute: Executor = run_pipeline, say: Callable[[str], None] = print):
        self.execute = execute
        self.say = say

    @classmethod
    def for_run(cls, dry_run: bool) -> Runner:
        """The runner of a command line: real, or only printing with --dry-run."""
        return cls(print_only if dry_run else run_pipeline)

    @property
    def dry_run(self) -> bool:
        return self.execute is print_only

    def _step(
        self, stages: Sequence[Argv], capture: bool, check: bool = True,
        stdin: str | None = None, stdin_note: str = "",
    ) -> Completed:  # fmt: skip
        # Only a description of stdin is printed, never its content: it may
        # carry passwords.
        line = " | ".join(shlex.join(argv) for argv in stages)
        self.say(f"+ {line}" + (f"  # stdin: {stdin_note}" if stdin_note else ""))
        done = self.execute(stages, stdin, capture)
        if check and done.returncode != 0:
            detail = done.stderr.strip().splitlines()
            last = f": {detail[-1]}" if detail else ""
            raise CommandFailed(f"`{line}` failed (exit status {done.returncode}){last}")
        return done

    def run(self, *stages: Argv) -> None:
        """One command, or ``producer | consumer`` without a shell in between."""
        self._step(stages, capture=False)

    def output(self, argv: Argv, stdin: str | None = None, stdin_note: str = "") -> str:
        """A read-only command's output (empty in a dry run)."""
        return self._step([argv], True, stdin=stdin, stdin_note=stdin_note).stdout

    def probe(self, argv: Argv) -> str | None:
        """Like :meth:`output`, but a failing command answers None (e.g. an
        image that is not there) instead of stopping the task."""
        done = self._step([argv], True, check=False)
        return done.stdout if done.returncode == 0 else None

    def act(self, description: str, action: Callable[[], T]) -> T | None:
        """A step that is no command (an HTTP check, a file written): printed,
        then done, except in a dry run (None)."""
        self.say(f"+ {description}")
        return None if self.dry_run else action()

    def note(self, text: str) -> None:
        self.say(f"  {text}")
