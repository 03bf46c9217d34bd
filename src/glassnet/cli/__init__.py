"""The ``glassnet`` command line."""

from glassnet.cli.main import build_parser, main  # noqa: F401
