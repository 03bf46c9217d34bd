"""The exceptions glassnet raises on bad input.

Every error a user can cause is one of these, with a message that says what
was expected and what was given.  They subclass the built-in exception a
Python user would expect (``ValueError``, ``OSError``), so ``except
ValueError`` keeps working, and :class:`GlassnetError` catches them all; the
command line turns any of them into one readable line and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "GlassnetError",
    "ShapeError",
    "DataError",
    "ConfigError",
    "FileFormatError",
    "DatasetNotFoundError",
    "DownloadError",
    "NonFiniteError",
    "GradcheckError",
]


class GlassnetError(Exception):
    """Base class of every error glassnet raises on purpose."""


class ShapeError(GlassnetError, ValueError):
    """An array has the wrong shape; the message names the layer and both shapes."""


class DataError(GlassnetError, ValueError):
    """Features or labels are unusable (NaN, out-of-range labels, empty, ...)."""


class ConfigError(GlassnetError, ValueError):
    """An option has an invalid value (unknown activation, negative rate, ...)."""


class FileFormatError(GlassnetError, ValueError):
    """A data, model or checkpoint file is corrupt, truncated, tampered with or foreign."""


class DatasetNotFoundError(GlassnetError, FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to get it."""


class DownloadError(GlassnetError, OSError):
    """A download failed or its checksum did not match."""


class NonFiniteError(GlassnetError, FloatingPointError):
    """A loss or gradient became NaN or infinite during training."""


class GradcheckError(GlassnetError, AssertionError):
    """Raised by a gradient check asked to raise when it fails; carries the report."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
