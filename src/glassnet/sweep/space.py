"""The search space of a sweep: grids, sampled ranges, and fixed values.

Grammar (command line or a TOML file's ``[grid]`` / ``[sample]`` / ``[fixed]`` tables)::

    --grid activation=all          every registered activation
    --grid lr=0.01,0.1             listed values (numbers parsed as numbers)
    --sample lr=log:1e-4:1e-1      log-uniform float
    --sample dropout=0:0.5         uniform float
    --sample hidden=64..1024       integer range (inclusive)

Keys are fields of :class:`~glassnet.train.experiment.TrainConfig`; ``hidden`` values are one layer width
(``64``) or several (``"256,128"`` in a grid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from glassnet.errors import ConfigError

__all__ = ["Range", "Space", "parse_grid", "parse_sample", "space_from_toml"]


@dataclass(frozen=True)
class Range:
    """A sampled parameter: ``kind`` is "float", "log" or "int", between ``low`` and ``high``."""

    kind: str
    low: float
    high: float


@dataclass
class Space:
    grid: dict[str, list[Any]] = field(default_factory=dict)
    sample: dict[str, Range] = field(default_factory=dict)

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid.values()) if self.grid else 1

    def keys(self) -> list[str]:
        return [*self.grid, *self.sample]


def _config_keys() -> set[str]:
    from glassnet.train.experiment import TrainConfig

    return {f.name for f in fields(TrainConfig)}


def _split(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key or not value.strip():
        raise ConfigError(f"{what} wants KEY=VALUES, got {text!r}")
    if key not in _config_keys() or key in ("preset", "dataset", "data_dir", "download"):
        raise ConfigError(f"{what} {key!r}: not a training option that can vary (e.g. activation, lr, hidden, "
                          "dropout, l2, batch_size, optimizer)")
    return key, value.strip()


def _value(key: str, text: str) -> Any:
    if key == "hidden":
        try:
            return tuple(int(w) for w in text.replace(";", ",").split("x"))
        except ValueError:
            raise ConfigError(f"hidden: expected widths such as 256 or 256x128, got {text!r}") from None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_grid(text: str, space: Space) -> None:
    """``KEY=v1,v2,...`` or ``activation=all`` into ``space.grid`` (hidden layers: ``256x128``)."""
    key, values = _split(text, "--grid")
    if key == "activation" and values == "all":
        from glassnet.core.activations import ACTIVATIONS

        space.grid[key] = sorted(ACTIVATIONS)
        return
    items = [_value(key, v.strip()) for v in values.split(",") if v.strip()]
    if key == "activation":
        from glassnet.core.activations import ACTIVATIONS

        unknown = [a for a in items if a not in ACTIVATIONS]
        if unknown:
            raise ConfigError(f"--grid activation: unknown {unknown}; registered: {', '.join(sorted(ACTIVATIONS))}")
    space.grid[key] = items


def parse_sample(text: str, space: Space) -> None:
    """``KEY=log:LOW:HIGH``, ``KEY=LOW:HIGH`` (float) or ``KEY=LOW..HIGH`` (int) into ``space.sample``."""
    key, spec = _split(text, "--sample")
    try:
        if ".." in spec:
            low, high = (int(v) for v in spec.split(".."))
            kind = "int"
        else:
            parts = spec.split(":")
            kind = "log" if parts[0] == "log" else "float"
            low, high = (float(v) for v in (parts[1:] if kind == "log" else parts))
    except ValueError:
        raise ConfigError(f"--sample {key}: expected log:LOW:HIGH, LOW:HIGH or LOW..HIGH, got {spec!r}") from None
    if not low < high or (kind == "log" and low <= 0):
        raise ConfigError(f"--sample {key}: needs LOW < HIGH{' and LOW > 0 on a log scale' if kind == 'log' else ''}, "
                          f"got {spec!r}")
    if key == "hidden" and kind != "int":
        raise ConfigError("--sample hidden wants an integer range such as 64..1024")
    space.sample[key] = Range(kind, low, high)


def space_from_toml(text: str) -> tuple[Space, dict[str, Any]]:
    """A TOML file's ``[grid]`` (lists), ``[sample]`` (strings in the grammar above) and ``[fixed]`` tables."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sweep file: {exc}") from None
    unknown = set(doc) - {"grid", "sample", "fixed"}
    if unknown:
        raise ConfigError(f"sweep file: unknown tables {sorted(unknown)}; use [grid], [sample] and [fixed]")
    space = Space()
    for key, values in doc.get("grid", {}).items():
        listed = values if isinstance(values, list) else [values]
        parse_grid(f"{key}={','.join('x'.join(map(str, v)) if isinstance(v, list) else str(v) for v in listed)}", space)
    for key, spec in doc.get("sample", {}).items():
        parse_sample(f"{key}={spec}", space)
    fixed = dict(doc.get("fixed", {}))
    return space, fixed
