"""Each task's options, declared once: ``main()``'s argparse and tasks.py's
invoke tasks are both made from the same table of :class:`Option`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from deploy.api_client import DEFAULT_URL

Value = str | int | bool


@dataclass(frozen=True)
class Option:
    """``--NAME`` (underscores as dashes). The default's type is the option's:
    ``True`` makes a ``--no-NAME`` switch, ``False`` a plain one."""

    name: str
    default: Value
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def parser(prog: str, description: str, options: Sequence[Option]) -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(prog=prog, description=description)
    add_to(made, options)
    return made


def add_to(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    for option in options:
        if option.default is True:
            parser.add_argument(
                f"--no-{option.flag[2:]}", dest=option.name, action="store_false", help=option.help
            )
        elif option.default is False:
            parser.add_argument(option.flag, action="store_true", help=option.help)
        else:
            parser.add_argument(
                option.flag,
                type=type(option.default),
                default=option.default,
                choices=option.choices or None,
                help=option.help,
            )


def command_line(options: Sequence[Option], values: dict[str, Value]) -> list[str]:
    """The arguments that pass ``values`` on; defaults are left out."""
    words: list[str] = []
    for option in options:
        value = values.get(option.name, option.default)
        if value == option.default:
            continue
        if value is True or value is False:
            words.append(option.flag if value else f"--no-{option.flag[2:]}")
        else:
            words += [option.flag, str(value)]
    return words


# Options several tasks share.
KUBECONFIG = Option("kubeconfig", "", "kubeconfig file (default: KUBECONFIG or kubectl's default)")
KUBECTL = Option("kubectl", "kubectl", "kubectl command, e.g. 'k3s kubectl'")
URL = Option("url", DEFAULT_URL, f"where the API answers (default: {DEFAULT_URL}, the NodePort)")
DRY_RUN = Option("dry_run", False, "only print the commands and checks: run nothing")
