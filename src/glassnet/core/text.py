"""Plain text that fits a terminal: lines wrapped and tables split to a given width.

Used by ``glassnet explain``, the gradient-check table and the confusion matrix.
The width is an argument; None means no limit (output to a pipe or a file).
The command line passes the terminal's
(:func:`glassnet.cli.common.terminal_width`, which honours ``COLUMNS``), so
nothing here reads the environment.

* :func:`fit_lines` wraps every line wider than ``width`` at spaces; the
  continuation lines keep the line's own indentation plus two spaces.  A
  rule (``=====``, ``-----``) is shortened; any other line with no space to
  break at is left whole (a word is never cut).
* :func:`table` right-aligns columns of strings; when the table is wider
  than ``width`` it is printed in blocks of columns, each block repeating
  the first ``keep`` (key) columns, as pandas does.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from glassnet.errors import ConfigError

__all__ = ["DEFAULT_WIDTH", "MIN_WIDTH", "check_width", "fit_lines", "table"]

#: a classic terminal: what ``glassnet explain`` fits when no width is given.
DEFAULT_WIDTH = 80
#: narrower than this, tables and formulas cannot be laid out readably; narrower widths are raised to it.
MIN_WIDTH = 40


def check_width(width: int | None) -> int | None:
    """``width`` as a usable column count: None stays None (no limit), and anything below
    :data:`MIN_WIDTH` (a terminal too narrow to lay out a formula) is raised to it."""
    if width is None:
        return None
    if not isinstance(width, int) or isinstance(width, bool):
        raise ConfigError(f"width must be an integer number of columns, got {width!r}")
    return max(int(width), MIN_WIDTH)


def fit_lines(text: str, width: int | None = None) -> str:
    """``text`` with every line longer than ``width`` wrapped at spaces (hanging indent of 2)."""
    width = check_width(width)
    if width is None:
        return text
    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        if len(set(line.strip(" "))) == 1 and line.strip(" ")[0] in "=-~":  # a rule: shortened, not wrapped
            out.append(line[:width])
            continue
        wrapped = textwrap.wrap(
            line.strip(" "), width=width, initial_indent=indent, subsequent_indent=indent + "  ",
            break_long_words=False, break_on_hyphens=False,
        )
        out.extend(wrapped or [line])
    return "\n".join(out)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, width: int | None = None, indent: str = "  ",
    keep: int = 1, gap: int = 2,
) -> list[str]:
    """Right-aligned columns of strings under ``headers``, split into blocks of columns to fit ``width``.

    Each block repeats the first ``keep`` columns (the ones that say which row it is) and takes as many
    of the others as fit; blocks are separated by a blank line.  A single column wider than the page
    still gets a block of its own.  ``gap`` spaces separate the columns.
    """
    width = check_width(width)
    n = len(headers)
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) if rows else len(headers[i]) for i in range(n)]
    keep = min(keep, n)
    key_width = len(indent) + sum(widths[:keep]) + gap * keep
    blocks: list[list[int]] = []
    current: list[int] = []
    used = key_width
    for i in range(keep, n):
        if current and width is not None and used + widths[i] > width:
            blocks.append(current)
            current, used = [], key_width
        current.append(i)
        used += widths[i] + gap
    if current or not blocks:
        blocks.append(current)

    lines: list[str] = []
    for number, block in enumerate(blocks):
        columns = list(range(keep)) + block

        def line(cells: Sequence[str]) -> str:
            return indent + (" " * gap).join(cells[i].rjust(widths[i]) for i in columns)

        if number:
            lines.append("")
        lines += [line(headers), indent + "-" * (sum(widths[i] for i in columns) + gap * (len(columns) - 1))]
        lines += [line(r) for r in rows]
    return lines
