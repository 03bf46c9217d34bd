"""``glassnet completion bash|zsh``: a shell completion script generated from the parser (needs shtab).

::

    glassnet completion bash > ~/.local/share/bash-completion/completions/glassnet
    glassnet completion zsh > "${fpath[1]}/_glassnet"

Every command, option and choice comes from :func:`glassnet.cli.main.build_parser`,
so the script completes exactly what the installed glassnet accepts; options
that take a file or a folder complete paths.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glassnet.cli.options import DEBUG, existing_dir
from glassnet.cli.registry import Command, register
from glassnet.errors import ConfigError

#: the shells shtab writes scripts for that glassnet offers
SHELLS = ("bash", "zsh")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", **DEBUG)
    p.add_argument("shell", choices=SHELLS, help="the shell to write the completion script for")


def _mark_paths(parser: argparse.ArgumentParser, shtab) -> None:
    """Options whose values are files or folders complete paths (recursively through the sub-commands)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _mark_paths(sub, shtab)
        elif action.type is Path:
            action.complete = shtab.FILE
        elif action.type is existing_dir:
            action.complete = shtab.DIRECTORY


def run(args: argparse.Namespace) -> int:
    try:
        import shtab
    except ImportError:
        raise ConfigError('glassnet completion needs shtab: pip install "glassnet[completion]"') from None
    from glassnet.cli.main import build_parser

    parser = build_parser()
    _mark_paths(parser, shtab)
    print(shtab.complete(parser, shell=args.shell), end="")
    return 0


register(Command(
    name="completion",
    help="print a bash or zsh completion script",
    description="Print a shell completion script for glassnet, generated from its parser (needs shtab: "
    'pip install "glassnet[completion]"). bash: glassnet completion bash > '
    "~/.local/share/bash-completion/completions/glassnet; zsh: glassnet completion zsh > \"${fpath[1]}/_glassnet\".",
    add_arguments=add_arguments,
    run=run,
    order=200,
))
