"""``--json``: one JSON object on stdout, with a ``schema`` name and version (docs/json.md describes each).

Every command that takes ``--json`` builds a plain dict and hands it to
:func:`emit`, which adds ``"schema": "glassnet.<command>/<version>"`` as the
first key and writes strict JSON: NaN and infinity become ``null``, numpy
numbers and arrays become JSON numbers and lists.  A schema's version goes up
only when a key is removed or changes meaning; new keys may appear in any version.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Mapping

import numpy as np

__all__ = ["SCHEMA_VERSIONS", "JSON_OPTION", "emit", "plain"]

#: command -> version of its --json schema
SCHEMA_VERSIONS: dict[str, int] = {"train": 1, "evaluate": 1, "gradcheck": 1, "doctor": 1, "info": 1}

#: the --json option's arguments (add_argument("--json", **JSON_OPTION))
JSON_OPTION: dict[str, Any] = {
    "action": "store_true",
    "help": "print one JSON object instead of text (schema in docs/json.md)",
}


def plain(value: Any) -> Any:
    """``value`` as JSON types: numpy scalars and arrays to numbers and lists, non-finite floats to None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def emit(command: str, payload: Mapping[str, Any]) -> None:
    """Print ``{"schema": "glassnet.<command>/<version>", **payload}`` as indented JSON on stdout."""
    document = {"schema": f"glassnet.{command}/{SCHEMA_VERSIONS[command]}", **plain(payload)}
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
