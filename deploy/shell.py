"""Running the external commands of the deploy and drill tasks.

Every external step is printed as ``+ command`` and then run, or only printed
in a dry run, so what a dry run shows is what a real run executes. kubectl
goes through :class:`Kubectl`, which says how to reach the cluster: a plain
``kubectl`` (any cluster), ``k3s kubectl`` inside the VM, or kubectl run in
the VM from the host through ``vagrant ssh``.

Only the standard library: this also runs inside the VM with its system
python3.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Argv = list[str]


class TaskError(RuntimeError):
    """A failed step of a deploy or drill task; the message is one line for the user."""


class CommandError(TaskError):
    """An external command failed."""


class MissingToolError(TaskError):
    """A tool the task needs is not installed."""


def exit_status(prog: str, task: Callable[[], object]) -> int:
    """Run a command-line task: 0, or 1 after its one-line error on stderr."""
    try:
        task()
    except TaskError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0


def missing_tools(
    tools: Mapping[str, str], which: Callable[[str], str | None] = shutil.which
) -> str:
    """One line naming every tool in ``tools`` (name -> how to install it)
    that is not on PATH, or "" when all are there."""
    absent = [f"{name} ({hint})" for name, hint in tools.items() if which(name) is None]
    if not absent:
        return ""
    return "not installed: " + "; ".join(absent)


def require_tools(tools: Mapping[str, str]) -> None:
    problem = missing_tools(tools)
    if problem:
        raise MissingToolError(problem)


@dataclass(frozen=True)
class Kubectl:
    """How to run kubectl.

    ``command`` is the kubectl command itself (``kubectl``, ``k3s kubectl``,
    ``sudo kubectl``); ``kubeconfig``, when set, is passed to every call.
    """

    command: tuple[str, ...] = ("kubectl",)
    kubeconfig: str = ""

    @classmethod
    def from_command_line(cls, command: str = "kubectl", kubeconfig: str = "") -> Kubectl:
        words = tuple(shlex.split(command))
        if not words:
            raise TaskError("--kubectl is empty: give a command, e.g. kubectl or 'k3s kubectl'")
        return cls(command=words, kubeconfig=kubeconfig)

    def __call__(self, *args: str) -> Argv:
        argv = [*self.command]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        argv += args
        return argv

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
# how it ended; ``capture`` asks for the last stage's output. Tests pass their
# own to check command sequences without the tools.
Executor = Callable[[Sequence[Argv], str | None, bool], Completed]


def run_pipeline(stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
    """The real executor: no shell, one process per stage."""
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


class Shell:
    """Prints each command, then runs it, or only prints it in a dry run."""

    def __init__(
        self,
        dry_run: bool = False,
        say: Callable[[str], None] = print,
        execute: Executor = run_pipeline,
    ) -> None:
        self.dry_run = dry_run
        self.say = say
        self.execute = execute

    def _announce(self, stages: Sequence[Argv], stdin_note: str = "") -> None:
        # Only a description of stdin is printed, never its content: it may
        # carry passwords.
        line = " | ".join(shlex.join(argv) for argv in stages)
        self.say(f"+ {line}" + (f"  # stdin: {stdin_note}" if stdin_note else ""))

    @staticmethod
    def _failed(stages: Sequence[Argv], done: Completed) -> CommandError:
        detail = done.stderr.strip().splitlines()
        command = " | ".join(shlex.join(argv) for argv in stages)
        return CommandError(
            f"`{command}` failed (exit status {done.returncode})"
            + (f": {detail[-1]}" if detail else "")
        )

    def run(self, argv: Argv) -> None:
        self._announce([argv])
        if self.dry_run:
            return
        done = self.execute([argv], None, False)
        if done.returncode != 0:
            raise self._failed([argv], done)

    def pipe(self, producer: Argv, consumer: Argv) -> None:
        """``producer | consumer``, without a shell in between."""
        self._announce([producer, consumer])
        if self.dry_run:
            return
        done = self.execute([producer, consumer], None, False)
        if done.returncode != 0:
            raise self._failed([producer, consumer], done)

    def query(
        self, argv: Argv, dry_run_answer: str, stdin: str | None = None, stdin_note: str = ""
    ) -> str:
        """Run a read-only command and return its output; a dry run returns
        ``dry_run_answer`` instead of running it."""
        self._announce([argv], stdin_note)
        if self.dry_run:
            return dry_run_answer
        done = self.execute([argv], stdin, True)
        if done.returncode != 0:
            raise self._failed([argv], done)
        return done.stdout

    def probe(self, argv: Argv, dry_run_answer: str | None) -> str | None:
        """Like :meth:`query`, but a failing command answers None (e.g. an
        image that is not there) instead of stopping the task."""
        self._announce([argv])
        if self.dry_run:
            return dry_run_answer
        done = self.execute([argv], None, True)
        return done.stdout if done.returncode == 0 else None

    def check(self, description: str) -> bool:
        """Announce an HTTP check; True when it should really be made."""
        self.say(f"+ {description}")
        return not self.dry_run

    def note(self, text: str) -> None:
        self.say(f"  {text}")
