"""The ``glassnet`` command: its parser, built from the command registry, and ``main``.

The sub-commands live in :mod:`glassnet.cli.commands`, one module per command
group; each registers itself in :data:`glassnet.cli.registry.COMMANDS`, and
:func:`build_parser` loops over that registry.  An input or usage error prints
one line ``glassnet: error: ...`` and exits with status 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from glassnet import __version__
from glassnet.cli.options import Parser
from glassnet.cli.registry import discover
from glassnet.errors import GlassnetError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """``glassnet``'s parser: global options, then one sub-parser per registered command."""
    parser = Parser(
        prog="glassnet",
        description="Train and inspect neural-network classifiers with hand-written, verified backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in discover().values():
        p = sub.add_parser(command.name, help=command.help, description=command.description)
        command.add_arguments(p)
        p.set_defaults(func=command.run)
    return parser


# ----------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("glassnet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (glassnet evaluate m.npz | head): nothing to report
        try:  # keep the interpreter's final flush of stdout from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except (GlassnetError, OSError, ValueError) as exc:
        if args.debug:
            raise
        print(f"glassnet: error: {_error_text(exc)}", file=sys.stderr)
        return 2


def _error_text(exc: BaseException) -> str:
    """The message of an error, for one line after "glassnet: error:".

    The first line of the message only, with one exception: a missing dataset's
    message goes on to list where glassnet looked and how to get the files,
    and that list is the answer, so it is kept.  An OSError from the system
    reads "PATH: reason" rather than "[Errno 2] reason: 'PATH'".
    """
    from glassnet.errors import DatasetNotFoundError

    if isinstance(exc, OSError) and not isinstance(exc, GlassnetError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return text if isinstance(exc, DatasetNotFoundError) else text.splitlines()[0]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
