"""Opening files that come from strangers: regular files only, and never a blocking ``open``.

::

    with open_regular("model.npz") as f:      # a BinaryIO, or FileFormatError / OSError
        data = f.read()

A path can name something that is not a file at all: a FIFO (``open`` waits
forever for a writer), a character device (``/dev/zero`` never ends), a
directory, a socket; and a symbolic link can point to any of them.
:func:`open_regular` opens the path with ``O_NONBLOCK`` (so opening a FIFO
returns at once), checks with ``fstat`` *on the opened descriptor* (no race
between the check and the open) that it is a regular file, and only then
hands back an ordinary buffered binary file.  Anything else raises
:class:`~glassnet.errors.FileFormatError` naming the path and what it is;
a missing or unreadable path raises the usual ``OSError``.

Every reader of model files, checkpoints, IDX files and ``.npy`` inputs opens
its path through here.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from glassnet.errors import FileFormatError

__all__ = ["open_regular", "describe_file_type"]


def describe_file_type(mode: int) -> str:
    """What ``st_mode`` names, in words (``"a FIFO (named pipe)"``, ``"a directory"``, ...)."""
    for test, words in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "not a regular file"


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open ``path`` for binary reading if (after following symlinks) it is a regular file.

    Never blocks: a FIFO nobody writes to, a device or a directory raises
    :class:`FileFormatError` (``"PATH: not a regular file: it is a FIFO (named
    pipe)"``) at once.  The returned file is blocking again, positioned at 0.
    """
    label = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(label, flags)
    except IsADirectoryError:  # Windows, and some systems, refuse to open a directory at all
        raise FileFormatError(f"{label}: not a regular file: it is a directory") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileFormatError(f"{label}: not a regular file: it is {describe_file_type(mode)}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
