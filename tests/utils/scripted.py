"""The tests' executor for deploy.commands.Runner: commands answered from a
script instead of run, so command sequences are tested without the tools."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

from deploy.commands import Argv, Completed

Answer = str | int  # output (exit status 0), or a failing exit status


class Scripted:
    """Answers each command by the first key found in its command line (a
    list of answers is used up one call at a time; no key: empty output),
    first running the effect of the first effect key found in it. Records
    every command line with its stdin."""

    def __init__(
        self,
        answers: dict[str, Answer | list[Answer]] | None = None,
        effects: dict[str, Callable[[], None]] | None = None,
    ) -> None:
        self.answers = answers or {}
        self.effects = effects or {}
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, stages: Sequence[Argv], stdin: str | None, capture: bool) -> Completed:
        line = " | ".join(shlex.join(argv) for argv in stages)
        self.calls.append((line, stdin))
        effect = next((e for key, e in self.effects.items() if key in line), None)
        if effect:
            effect()
        answer = next((a for key, a in self.answers.items() if key in line), "")
        if isinstance(answer, list):
            answer = answer.pop(0)
        return Completed(answer) if isinstance(answer, int) else Completed(0, answer)

    @property
    def lines(self) -> list[str]:
        return [line for line, _ in self.calls]

    def ran(self, fragment: str) -> bool:
        return any(fragment in line for line in self.lines)


# The other side of a dry run: real command lines, with tools on PATH that
# would leave a trace if anything ran them.
TRIPWIRE_TOOLS = ("vagrant", "kubectl", "docker", "kind", "k3d", "minikube", "k3s")


def make_tripwire(folder: Path) -> Path:
    """``folder/bin`` holding a ``TOOL`` for each of TRIPWIRE_TOOLS that
    records its arguments in ``folder/TOOL-calls`` and fails."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    for tool in TRIPWIRE_TOOLS:
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "$@" >> {folder}/{tool}-calls\nexit 1\n')
        script.chmod(0o755)
    return folder


def nothing_ran(tripwire: Path) -> bool:
    return not any((tripwire / f"{tool}-calls").exists() for tool in TRIPWIRE_TOOLS)


def printed(stdout: str) -> list[str]:
    """The commands printed as ``+ command``."""
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]
