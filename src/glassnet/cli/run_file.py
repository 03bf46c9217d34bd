"""Run files: ``glassnet train --config run.toml``, and the resolved configuration printed as TOML.

A run file is a flat TOML table whose keys are the run options of ``glassnet
train`` (underscores or dashes)::

    # run.toml
    preset = "mnist"            # optional: start from a preset
    dataset = "fashion-mnist"
    hidden = [256, 128]         # [] for no hidden layer
    activation = "relu"
    optimizer = "adam"
    lr = 1e-3
    batch_size = 128            # or "full"
    epochs = 20
    early_stopping = 3

Every value goes through the same parser and check as the command-line
option of that name (so ``lr = -1`` or ``activation = "relux"`` is refused
with the same message, prefixed by the file and key), and an option given on
the command line overrides the file.  :func:`config_to_toml` writes a
resolved :class:`~glassnet.train.experiment.TrainConfig` back as such a file
(``--print-config``, ``glassnet info``); reading that text gives the same
configuration.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping

from glassnet.cli.common import CONFIG_KEYS
from glassnet.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["read_run_file", "apply_run_file", "config_to_toml"]


def read_run_file(path: str | Path) -> dict[str, Any]:
    """The TOML table of ``path`` with keys normalised to underscores; ConfigError for bad TOML or keys."""
    with open(path, "rb") as f:
        try:
            table = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    values = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in CONFIG_KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}; a run file may set {', '.join(CONFIG_KEYS)}")
        if name in values:
            raise ConfigError(f"{path}: {key!r} is given twice (with '-' and with '_')")
        values[name] = value
    return values


def apply_run_file(parser: argparse.ArgumentParser, args: argparse.Namespace, path: str | Path) -> None:
    """Set every option of ``args`` that the command line left unset from the run file at ``path``.

    Each value is checked by the option's own argparse type and choices.
    """
    actions = {action.dest: action for action in parser._actions}
    for key, value in read_run_file(path).items():
        if getattr(args, key, None) is not None:
            continue  # the command line wins
        setattr(args, key, _parse(actions[key], key, value, path))


def _parse(action: argparse.Action, key: str, value: Any, path: str | Path) -> Any:
    where = f"{path}: {key}"
    if isinstance(action, argparse._StoreFalseAction):  # --no-download: the file says download = true/false
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or isinstance(value, (dict, list)) and key != "hidden":
        raise ConfigError(f"{where} must be a {'number' if action.type else 'string'}, got {value!r}")
    if key == "hidden":
        if not isinstance(value, list) or not all(type(v) is int for v in value):
            raise ConfigError(f"{where} must be a list of layer sizes such as [256, 128] ([] for none), got {value!r}")
        text = ",".join(map(str, value)) or "none"
    else:
        text = str(value)
    try:
        parsed = action.type(text) if action.type else text
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if action.choices is not None and parsed not in action.choices:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return parsed


def config_to_toml(config: Mapping[str, Any]) -> str:
    """A resolved configuration (``TrainConfig.to_dict()``) as run-file TOML.

    ``batch_size = None`` (full batch) is written ``"full"``; other unset
    values are written as comments, since TOML has no null.
    """
    lines = ["# a glassnet run file: glassnet train --config FILE"]
    for key, value in config.items():
        if value is None:
            lines.append(f'{key} = "full"' if key == "batch_size" else f"# {key} is not set")
        else:
            lines.append(f"{key} = {_toml_value(key, value)}")
    return "\n".join(lines) + "\n"


def _toml_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{key} is {value}, which a run file cannot hold")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(key, v) for v in value) + "]"
    raise ConfigError(f"{key} is a {type(value).__name__}, which a run file cannot hold")
