"""Checks of user-supplied numbers: the one place a range is described and enforced.

Optimizers, schedules, the scikit-learn estimator and the command line all
validate their numbers here, so that ``lr=-1`` reads the same everywhere:

>>> check_number("lr", 0.1, low=0, low_open=True)
0.1
>>> check_number("momentum", 1.5, low=0, high=1, high_open=True)
Traceback (most recent call last):
...
glassnet.errors.ConfigError: momentum must be a finite number in [0, 1), got 1.5
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from glassnet.errors import ConfigError

__all__ = ["check_number", "check_int", "describe_interval"]


def describe_interval(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> str:
    """Words for an interval: ``"> 0"``, ``">= 1"``, ``"in [0, 1)"``, or ``""`` for the whole real line."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def in_interval(
    number: float, low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> bool:
    """Is ``number`` finite and inside the interval?"""
    if not math.isfinite(number):
        return False
    if low is not None and not (number > low if low_open else number >= low):
        return False
    return high is None or (number < high if high_open else number <= high)


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number in the given interval, else :class:`ConfigError`.

    Booleans are refused (``True`` is not a learning rate), and so are strings.
    """
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    number = float(value) if ok else math.nan
    if not (ok and in_interval(number, low, high, low_open=low_open, high_open=high_open)):
        wanted = describe_interval(low, high, low_open=low_open, high_open=high_open)
        raise ConfigError(f"{name} must be a finite number{' ' + wanted if wanted else ''}, got {value!r}")
    return number


def check_int(name: str, value: Any, *, low: int) -> int:
    """``value`` as an int if it is an integer ``>= low`` (not a bool, not a float), else :class:`ConfigError`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)
