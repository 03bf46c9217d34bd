"""Models as safetensors files: written for any safetensors reader, read back without trusting the file.

::

    save_model_safetensors("model.safetensors", model)   # glassnet export --format safetensors
    model = load_model("model.safetensors")               # glassnet.io.serialize.load_model reads both formats

The file format (https://github.com/huggingface/safetensors)
------------------------------------------------------------
::

    8 bytes      N, the header's length, unsigned little-endian
    N bytes      a JSON object (UTF-8), padded with spaces to a multiple of 8:
                   {"__metadata__": {str: str, ...},
                    "0.W": {"dtype": "F32", "shape": [784, 256], "data_offsets": [0, 802816]}, ...}
    the rest     every tensor's bytes, little-endian, C order, back to back;
                 ``data_offsets = [begin, end)`` counts from the first byte after the header

The tensors keep glassnet's names and layout: ``"<i>.W"`` is ``W : (n_in,
n_out)`` of ``Y = X W + b`` (PyTorch's ``nn.Linear.weight`` is its
transpose), ``"<i>.b"`` is ``b : (n_out,)``.  ``__metadata__`` holds only
strings, so glassnet stores JSON text in it:

``glassnet_format``
    ``"glassnet-model"``; ``glassnet_format_version`` ``"1"``, ``glassnet_version``.
``dtype``
    ``"float32"`` or ``"float64"``.
``architecture``
    the layers as JSON, ``[{"type": "Dense", "config": {"n_in": 784, "n_out":
    256, "init": "auto"}}, {"type": "Activation", "config": {"fn": "relu"}}, ...]``,
    as in a ``.npz`` model file (:mod:`glassnet.io.serialize`).
``preprocessing``
    the input scaling as JSON (:meth:`glassnet.data.preprocess.Scaler.to_dict`:
    ``x' = (x / pixel_max - mean) / std``), or ``null``.
``meta``
    the rest of ``model.meta`` as JSON (class names, training configuration, history, ...).
``sha256``, ``meta_sha256``
    the digests of :func:`~glassnet.io.serialize.sha256_of_arrays` over the
    tensors and of :func:`~glassnet.io.serialize.sha256_of_meta` over this
    metadata object, so an edited weight or architecture is refused.

Reading trusts nothing
----------------------
:func:`read_safetensors` checks, before it reads any tensor: the header
length is at most :data:`~glassnet.io.serialize.MAX_META_BYTES` and fits in
the file; the header is strict JSON (no NaN, no repeated key) whose entries
have exactly the keys above, a known dtype, non-negative integer shapes and
offsets spanning exactly ``prod(shape) * itemsize`` bytes; the tensors tile
the data area with no gap and no overlap, and the data area ends exactly at
the end of the file.  So a lying header can make glassnet allocate no more
than the file's size.  :func:`load_model_safetensors` then requires
glassnet's metadata, both digests, finite float weights, and rebuilds the
model exactly as :func:`~glassnet.io.serialize.load_model` does.  Every
failure is a :class:`~glassnet.errors.FileFormatError` whose message starts
with the path.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any, Mapping

import numpy as np

from glassnet import __version__
from glassnet.errors import ConfigError, FileFormatError
from glassnet.core.files import open_regular
from glassnet.io.serialize import (
    model_arrays,
    _NAME_RE,
    MAX_META_BYTES,
    MODEL_FORMAT,
    _model_from,
    _parse_header,
    _Refused,
    _reject_constant,
    _to_json,
    _unique_keys,
    atomic_write,
    model_header,
    sha256_of_arrays,
    sha256_of_meta,
)
from glassnet.nn.model import Sequential

__all__ = [
    "SAFETENSORS_VERSION",
    "DTYPES",
    "is_safetensors",
    "write_safetensors",
    "read_safetensors",
    "save_model_safetensors",
    "load_model_safetensors",
]

#: version of glassnet's metadata layout inside a safetensors file.
SAFETENSORS_VERSION = 1
#: safetensors dtype code -> the little-endian numpy dtype (the codes glassnet writes and reads).
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {dtype: code for code, dtype in DTYPES.items()}
_TENSOR_KEYS = {"dtype", "shape", "data_offsets"}
_MODEL_KEYS = {"glassnet_format", "glassnet_format_version", "glassnet_version", "dtype", "architecture",
               "preprocessing", "meta", "sha256", "meta_sha256"}


def is_safetensors(path: str | os.PathLike) -> bool:
    """True when the file starts like a safetensors file: an 8-byte length, then ``{``."""
    with open_regular(path) as f:  # a FIFO or a device is refused here, without blocking
        start = f.read(9)
    return len(start) == 9 and start[8:9] == b"{" and struct.unpack("<Q", start[:8])[0] > 0


# ---------------------------------------------------------------------- the format
def write_safetensors(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> None:
    """Write ``arrays`` (name -> array) and the string ``metadata`` atomically as a safetensors file."""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ConfigError("safetensors metadata maps strings to strings")
    header: dict[str, Any] = {"__metadata__": dict(metadata)}
    tensors = []
    offset = 0
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        code = _CODES.get(array.dtype.newbyteorder("<"))
        if code is None or name == "__metadata__":
            raise ConfigError(f"array {name!r} ({array.dtype}) cannot be stored in a safetensors file")
        data = np.asarray(array, dtype=DTYPES[code]).tobytes(order="C")
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        tensors.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data then starts 8-byte aligned, as the reference writer does
    if len(text) > MAX_META_BYTES:
        raise ConfigError(f"the safetensors header is {len(text)} bytes; the limit is {MAX_META_BYTES}")

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in tensors:
            f.write(data)

    atomic_write(path, write)


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read any safetensors file (of the dtypes in :data:`DTYPES`); return ``(arrays, metadata)``.

    Every check of the module docstring is made before any tensor is read;
    a failure is a :class:`FileFormatError` whose message starts with ``path``.
    """
    label = os.fspath(path)
    try:
        with open_regular(label) as f:
            return _read(f, os.fstat(f.fileno()).st_size)
    except _Refused as exc:
        raise FileFormatError(f"{label}: {exc}") from None


def _read(f, file_size: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if file_size < 8:
        raise _Refused(f"not a safetensors file: {file_size} bytes, shorter than the 8-byte header length")
    (n_header,) = struct.unpack("<Q", f.read(8))
    if n_header > MAX_META_BYTES:
        raise _Refused(f"the header claims {n_header} bytes, over the limit of {MAX_META_BYTES}")
    if 8 + n_header > file_size:
        raise _Refused(f"the header claims {n_header} bytes but the file has only {file_size - 8} after the length")
    header = _parse_header(f.read(n_header))
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _Refused("__metadata__ must be an object of strings")
    data_size = file_size - 8 - n_header
    spec = _tensor_spec(header, data_size)
    arrays = {}
    position = 0
    for name, (dtype, shape, begin, end) in sorted(spec.items(), key=lambda item: item[1][2]):
        if begin != position:
            raise _Refused(f"tensor {name!r} starts at byte {begin}, expected {position} (a gap or an overlap)")
        data = f.read(end - begin)
        if len(data) != end - begin:
            raise _Refused(f"tensor {name!r} is truncated")
        arrays[name] = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        position = end
    if position != data_size:
        raise _Refused(f"the tensors cover {position} bytes but the file holds {data_size} after the header")
    return arrays, metadata


def _tensor_spec(header: dict[str, Any], data_size: int) -> dict[str, tuple[np.dtype, tuple[int, ...], int, int]]:
    """``{name: (dtype, shape, begin, end)}`` after checking each entry against itself and the data size."""
    spec = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != _TENSOR_KEYS:
            raise _Refused(f"tensor {name!r}: the entry must have exactly the keys {sorted(_TENSOR_KEYS)}")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in DTYPES:
            raise _Refused(f"tensor {name!r}: dtype {code!r} is not one of {', '.join(DTYPES)}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _Refused(f"tensor {name!r}: shape must be a list of non-negative integers, got {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):
            raise _Refused(f"tensor {name!r}: data_offsets {offsets!r} are not a range inside the {data_size} data bytes")
        n_bytes = math.prod(shape) * DTYPES[code].itemsize
        if offsets[1] - offsets[0] != n_bytes:
            raise _Refused(f"tensor {name!r}: shape {shape} of {code} needs {n_bytes} bytes, "
                           f"data_offsets span {offsets[1] - offsets[0]}")
        spec[name] = (DTYPES[code], tuple(shape), offsets[0], offsets[1])
    return spec


# ---------------------------------------------------------------------- models
def save_model_safetensors(path: str | os.PathLike, model: Sequential, *, meta: Mapping[str, Any] | None = None) -> None:
    """Write ``model`` as a safetensors file with glassnet's metadata (see the module docstring).

    The file is read back in memory first, so a model that would not load
    raises :class:`ConfigError` and nothing is written.
    """
    header = model_header(model, meta)
    user_meta = _to_json(header["meta"], "meta")
    preprocessing = user_meta.pop("preprocessing", None)
    arrays = {name: np.ascontiguousarray(a) for name, a in model_arrays(model).items()}
    for name in arrays:
        if not _NAME_RE.match(name):
            raise ConfigError(f"parameter name {name!r} cannot be stored")
    metadata = {
        "glassnet_format": MODEL_FORMAT,
        "glassnet_format_version": str(SAFETENSORS_VERSION),
        "glassnet_version": __version__,
        "dtype": header["dtype"],
        "architecture": json.dumps(header["layers"], allow_nan=False),
        "preprocessing": json.dumps(preprocessing, allow_nan=False),
        "meta": json.dumps(user_meta, allow_nan=False),
        "sha256": sha256_of_arrays(arrays),
    }
    metadata["meta_sha256"] = sha256_of_meta(metadata)
    try:
        _model_from_metadata(arrays, metadata)
    except _Refused as exc:
        raise ConfigError(f"this model cannot be saved so that it loads back: {exc}") from None
    write_safetensors(path, arrays, metadata)


def load_model_safetensors(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Sequential:
    """Load a model written by :func:`save_model_safetensors`; FileFormatError (message starting with ``path``) otherwise.

    NaN or infinite weights are refused unless ``allow_nonfinite`` (as :func:`~glassnet.io.serialize.load_model`).
    """
    label = os.fspath(path)
    arrays, metadata = read_safetensors(label)
    try:
        return _model_from_metadata(arrays, metadata, allow_nonfinite=allow_nonfinite)
    except _Refused as exc:
        raise FileFormatError(f"{label}: {exc}") from None


def _model_from_metadata(arrays: dict[str, np.ndarray], metadata: dict[str, str], *,
                         allow_nonfinite: bool = False) -> Sequential:
    if metadata.get("glassnet_format") != MODEL_FORMAT:
        raise _Refused("a safetensors file without glassnet's metadata (it names no architecture, so glassnet "
                       "cannot rebuild a model from it)")
    if metadata.get("glassnet_format_version") != str(SAFETENSORS_VERSION):
        raise _Refused(f"glassnet safetensors version {metadata.get('glassnet_format_version')!r}; "
                       f"this glassnet reads version {SAFETENSORS_VERSION}")
    if set(metadata) != _MODEL_KEYS:
        raise _Refused(f"the metadata must have exactly the keys {sorted(_MODEL_KEYS)}, got {sorted(metadata)}")
    if sha256_of_meta(metadata) != metadata["meta_sha256"]:
        raise _Refused("meta_sha256 mismatch: the metadata is not what was saved (the file was edited or damaged)")
    if sha256_of_arrays(arrays) != metadata["sha256"]:
        raise _Refused("sha256 mismatch: the tensors are not what was saved (the file was altered or damaged)")
    for name, array in arrays.items():
        if not _NAME_RE.match(name):
            raise _Refused(f"bad tensor name {name!r}")
        if not allow_nonfinite and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise _Refused(f"tensor {name!r} holds NaN or infinity")
    layers, preprocessing, user_meta = (_json(metadata, key) for key in ("architecture", "preprocessing", "meta"))
    if not isinstance(user_meta, dict):
        raise _Refused(f"'meta' must be a JSON object, got {type(user_meta).__name__}")
    if preprocessing is not None:
        user_meta["preprocessing"] = preprocessing
    return _model_from({"dtype": metadata["dtype"], "layers": layers, "meta": user_meta}, arrays,
                       allow_nonfinite=allow_nonfinite)


def _json(metadata: dict[str, str], key: str) -> Any:
    try:
        return json.loads(metadata[key], parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as exc:
        raise _Refused(f"metadata {key!r} is not valid JSON ({exc})") from None
