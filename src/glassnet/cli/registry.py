"""The command registry: each module in :mod:`glassnet.cli.commands` registers its commands here.

A command is a name, its help texts, a function that adds its options to an
``argparse`` parser, and the function that runs it.  :func:`glassnet.cli.main.build_parser`
loops over :data:`COMMANDS`, so a new command is one new module in
``glassnet/cli/commands/`` and nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

__all__ = ["Command", "COMMANDS", "register", "discover"]


@dataclass(frozen=True)
class Command:
    """One sub-command of ``glassnet``.

    ``order`` places it in ``glassnet --help`` (smaller first; ties by name).
    ``add_arguments(parser)`` adds its options; ``run(args)`` returns the exit status.
    """

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    order: int = 100


#: command name -> Command, filled by :func:`register` when :func:`discover` imports the command modules.
COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add ``command`` to :data:`COMMANDS`; a second command with the same name is an error."""
    existing = COMMANDS.get(command.name)
    if existing is not None and existing is not command:
        raise ValueError(f"command {command.name!r} registered twice")
    COMMANDS[command.name] = command
    return command


def discover() -> dict[str, Command]:
    """Import every module of :mod:`glassnet.cli.commands` (each registers its commands); the commands in order."""
    from glassnet.cli import commands

    for info in pkgutil.iter_modules(commands.__path__):
        importlib.import_module(f"{commands.__name__}.{info.name}")
    return dict(sorted(COMMANDS.items(), key=lambda item: (item[1].order, item[0])))
