"""Safe files: saved models and array archives, written atomically, read without trusting the file.

::

    save_model("model.npz", model, meta={"class_names": names})
    model = load_model("model.npz")           # a Sequential, or FileFormatError

    save_arrays("ckpt.npz", arrays, meta, kind="glassnet-checkpoint")
    arrays, meta = load_arrays("ckpt.npz", kind="glassnet-checkpoint")

The file format
---------------
An uncompressed ``.npz`` (a zip archive of ``.npy`` files, what ``np.savez``
writes; ``np.load(path)`` opens it) with one member per array, named as the
array (``"0.W.npy"``, ``"0.b.npy"``, ...), plus ``"__meta__.npy"``: a 1-D
``uint8`` array holding the UTF-8 (in fact ASCII) bytes of a JSON object::

    {"format": "glassnet-model",          # the ``kind``
     "format_version": 1,
     "glassnet_version": "0.1.0",
     ...                                  # the caller's meta, top level
     "arrays": {"0.W": {"shape": [4, 8], "dtype": "float32"}, ...},
     "sha256": "<hex digest, see sha256_of_arrays>",
     "meta_sha256": "<hex digest, see sha256_of_meta>"}

For a model file the caller's part is ``"dtype"`` (``"float32"`` or
``"float64"``), ``"layers"`` (``[{"type": "Dense", "config": {"n_in": 4,
"n_out": 8, "init": "auto"}}, {"type": "Activation", "config": {"fn":
"relu"}}, ...]``, each layer's :meth:`~glassnet.nn.layers.Layer.config` under
its name in :data:`glassnet.nn.layers.LAYERS`) and ``"meta"`` (the model's
JSON-serialisable :attr:`~glassnet.nn.model.Sequential.meta`: class names,
preprocessing statistics, training configuration, metrics).

Nothing is pickled, ever.  Arrays must be bool, integer or float (at most 8
bytes per item) and are stored little-endian and C-ordered.  JSON is strict:
no NaN or infinity, no duplicate keys.

Reading trusts nothing
----------------------
:func:`load_arrays` opens only a regular file (a FIFO, device or directory is
refused at once, see :mod:`glassnet.core.files`), checks the zip magic
number, and reads the zip's end record itself before handing the file to
:mod:`zipfile`: a central directory over ``MAX_CENTRAL_DIRECTORY`` bytes
(more than ``MAX_MEMBERS`` members) is refused before Python builds an object
per entry.  Then, before reading any array data, it checks:

* every member is stored uncompressed (compression ratio exactly 1) and the
  members *do not overlap*: sorted by position, each local header and its
  data end before the next member starts and before the central directory
  (an "overlapping-member zip bomb" lists the same bytes many times over);
* the metadata member is at most ``MAX_META_BYTES`` long and holds at most
  ``MAX_META_ELEMENTS`` JSON values nested at most ``MAX_META_DEPTH`` deep
  (estimated on the raw bytes before ``json`` builds anything, counted exactly after);
* the metadata parses, names this ``kind`` and a version this glassnet
  reads, and matches its own digest ``meta_sha256`` (so an edited
  architecture, dtype or preprocessing statistic is refused, not silently
  loaded);
* the set of members is exactly the set the metadata lists, and the sum of
  the arrays' declared sizes is at most the file's size;
* each ``.npy`` header has the listed dtype and shape and exactly the listed
  number of data bytes.  Object (pickled) arrays are refused by their
  header, so their bytes are never unpickled.

Finally the zip CRC of every member and the sha256 over all arrays must
match.  So reading a file costs at most about its own size in memory, plus
the metadata's Python objects (bounded by ``MAX_META_ELEMENTS``).  Any
failure is a :class:`~glassnet.errors.FileFormatError` whose message starts
with the path; nothing is returned half-loaded.  A missing or unreadable
file is the usual ``OSError``.

:func:`load_model` further refuses more than ``MAX_LAYERS`` layers, and
parameters holding NaN or infinity (naming the tensor) unless
``allow_nonfinite=True`` (for inspecting a broken file:
``glassnet info --allow-nonfinite``).

Writes are atomic
-----------------
:func:`atomic_open` / :func:`atomic_write` write a temporary file in the
target's directory, flush and ``fsync`` it, ``os.replace`` it onto the target
and ``fsync`` the directory.  A reader sees the old file or the new one,
never a part; if writing fails the temporary file is removed and the old file
is untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import struct
import zipfile
import zlib
from typing import IO, Any, BinaryIO, Callable, Iterator, Mapping

import numpy as np
from numpy.lib import format as npy_format

from glassnet import __version__
from glassnet.core.activations import ACTIVATIONS
from glassnet.core.files import open_regular
from glassnet.errors import ConfigError, FileFormatError, GlassnetError, ShapeError
from glassnet.nn.layers import LAYERS, Activation, Dense, Layer, layer_from_config
from glassnet.nn.model import Sequential

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FORMAT",
    "MAX_META_BYTES",
    "MAX_META_ELEMENTS",
    "MAX_META_DEPTH",
    "MAX_MEMBERS",
    "MAX_LAYERS",
    "load_npy",
    "atomic_open",
    "atomic_write",
    "atomic_write_text",
    "sha256_of_arrays",
    "sha256_of_meta",
    "save_arrays",
    "load_arrays",
    "save_model",
    "load_model",
    "model_header",
    "model_arrays",
    "set_model_arrays",
    "nonfinite_summary",
]

#: version of the archive layout written by this glassnet; files with a larger number are refused.
FORMAT_VERSION = 2  # 2: the metadata carries a digest of itself ("meta_sha256")
#: ``kind`` of a saved model file.
MODEL_FORMAT = "glassnet-model"
#: largest JSON metadata accepted (a corrupt size field must not make the reader allocate gigabytes).
MAX_META_BYTES = 16 * 2**20
#: most JSON values (numbers, strings, lists, objects, ...) in the metadata: 22 million empty lists in
#: 63 MiB once cost 1.7 GiB of Python objects.  A model's metadata (784 scaling statistics, a history of
#: a few hundred epochs) holds a few thousand.
MAX_META_ELEMENTS = 100_000
#: deepest nesting of JSON lists and objects in the metadata (glassnet writes at most 5 levels).
MAX_META_DEPTH = 32
#: most members (arrays) in an archive; a checkpoint of a 100-layer network with Adam holds about 1,000.
MAX_MEMBERS = 10_000
#: largest zip central directory read (zipfile builds one Python object per entry before anything is checked).
MAX_CENTRAL_DIRECTORY = 2**20
#: most layers in a model file.
MAX_LAYERS = 1_000

_META = "__meta__"
_CHUNK = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... file name length, extra field length
_END_RECORD = struct.Struct("<4s4H2LH")  # signature, disks, entries here, entries, cd size, cd offset, comment
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")

#: array names: "/"-separated segments of letters, digits, "_", ".", "-", none starting with "." or "-".
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*\Z")
_SHA_RE = re.compile(r"[0-9a-f]{64}\Z")
_RESERVED = ("format", "format_version", "glassnet_version", "arrays", "sha256", "meta_sha256")
#: dtype name in the metadata -> the little-endian dtype stored; nothing else is accepted.
_DTYPES: dict[str, np.dtype] = {
    np.dtype(t).name: np.dtype(t).newbyteorder("<")
    for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
              np.float16, np.float32, np.float64)
}
#: what a corrupt archive makes zipfile, numpy's header parser or json raise.
_READ_ERRORS = (
    zipfile.BadZipFile,  # bad magic, CRC mismatch, bad central directory, ...
    zlib.error,
    struct.error,
    EOFError,
    OSError,  # also zipfile's "truncated file header"
    ValueError,  # numpy header parsing, JSON, UnicodeDecodeError
    KeyError,
    OverflowError,
    RuntimeError,  # "file is encrypted", unsupported compression (NotImplementedError), deep JSON nesting
)


# ---------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, encoding: str = "utf-8") -> Iterator[IO]:
    """Open a file for writing so that ``path`` is replaced all at once, or not at all.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding``).  The data goes to a
    temporary file in the same directory (created with permissions ``0o666``
    less the umask, as ``open`` would); when the block ends without an
    exception it is flushed, ``fsync``-ed and ``os.replace``-d onto ``path``,
    and the directory is ``fsync``-ed so the rename survives a crash.  If the
    block raises, the temporary file is removed and ``path`` is untouched.
    """
    if mode not in ("wb", "w"):
        raise ConfigError(f"atomic_open mode must be 'wb' or 'w', got {mode!r}")
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = _create_temp(directory, os.path.basename(target))
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": encoding})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[BinaryIO], None]) -> None:
    """Call ``write_fn(f)`` on a binary file that atomically becomes ``path`` (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as f:
        write_fn(f)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Atomically replace ``path`` with ``text`` (reports, JSON histories; see :func:`atomic_open`)."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def _create_temp(directory: str, base: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file next to {os.path.join(directory, base)}")


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX); a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not fsync directories; the data itself is already synced
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- digests
def sha256_of_arrays(arrays: Mapping[str, np.ndarray]) -> str:
    """Hex sha256 over names, dtypes, shapes and bytes of ``arrays``.

    Definition (so another program can recompute it): for each name in
    ``sorted(arrays)`` (code-point order), with the array ``a`` converted to
    little-endian and C order, feed four fields to one sha256, each as an
    8-byte little-endian unsigned length followed by that many bytes:

    1. the name, UTF-8;
    2. ``a.dtype.str``, ASCII (``"<f4"``, ``"<f8"``, ``"|u1"``, ``"|b1"``, ...);
    3. the shape as decimal integers joined by ``","`` (``"784,256"``; ``""`` for a scalar);
    4. the array's bytes (``a.tobytes(order="C")``).

    Byte order and memory layout do not change the digest; a value, a name,
    a dtype or a shape does.
    """
    digest = hashlib.sha256()

    def field(data: bytes | memoryview) -> None:
        digest.update(struct.pack("<Q", len(data)))
        digest.update(data)

    for name in sorted(arrays):
        a = _canonical(name, arrays[name])
        field(name.encode("utf-8"))
        field(a.dtype.str.encode("ascii"))
        field(",".join(str(d) for d in a.shape).encode("ascii"))
        field(memoryview(a.reshape(-1).view(np.uint8)))
    return digest.hexdigest()


def sha256_of_meta(header: Mapping[str, Any]) -> str:
    """Hex sha256 of the metadata object without its own ``"meta_sha256"`` key.

    Definition: the object is serialised as canonical JSON,
    ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    allow_nan=False)``, and the ASCII bytes are hashed.  It covers every key,
    the arrays' digest ``"sha256"`` included, so together the two digests
    cover the whole file.
    """
    body = {key: value for key, value in header.items() if key != "meta_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _canonical(name: str, value: Any) -> np.ndarray:
    """``value`` as a little-endian, C-ordered array of an allowed dtype (ConfigError otherwise)."""
    a = np.asarray(value)
    if a.dtype.name not in _DTYPES or a.dtype.fields is not None:
        raise ConfigError(
            f"array {name!r} has dtype {a.dtype}; glassnet files hold only {', '.join(_DTYPES)} (never objects)"
        )
    return np.asarray(a, dtype=_DTYPES[a.dtype.name], order="C")


# ---------------------------------------------------------------------- JSON
def _to_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (numpy scalars and arrays become numbers and lists).

    Raises ConfigError naming the offending entry for anything JSON cannot
    hold exactly: NaN/inf, non-string keys, arbitrary objects.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            raise ConfigError(f"{where} is {number}; JSON has no NaN or infinity (store None or a string instead)")
        return number
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ConfigError(f"{where} is an array of dtype {value.dtype}, which cannot be stored as JSON")
        return _to_json(value.tolist(), where)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where} has the key {key!r}; JSON object keys must be strings")
            out[key] = _to_json(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ConfigError(
        f"{where} is a {type(value).__name__}, which cannot be stored in a glassnet file "
        "(use numbers, strings, booleans, None, lists and dicts)"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"the metadata contains {name}, which strict JSON does not allow")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the metadata repeats the key {key!r}")
        out[key] = value
    return out


# ---------------------------------------------------------------------- generic archives
def save_arrays(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    kind: str,
    *,
    version: int = FORMAT_VERSION,
) -> None:
    """Write ``arrays`` and the JSON ``meta`` atomically to ``path`` as a ``kind`` archive.

    ``arrays`` maps names (``"/"``-separated segments of letters, digits and
    ``_ . -``, each starting with a letter, digit or ``_``, e.g. ``"0.W"`` or
    ``"opt/m/0.W"``; not ``__meta__``) to bool/int/float arrays.  ``meta`` must be JSON-serialisable (numpy scalars
    and arrays are converted to numbers and lists) and must not use the
    reserved keys ``format, format_version, glassnet_version, arrays, sha256, meta_sha256``.
    Raises :class:`ConfigError` (before touching ``path``) for anything that
    cannot be stored.
    """
    blob, members = _encode(arrays, meta, kind, version)
    atomic_write(path, lambda f: _write_npz(f, members, blob))


def _encode(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], kind: str, version: int
) -> tuple[bytes, dict[str, np.ndarray]]:
    """Validate and canonicalise; return the JSON bytes and the arrays to write."""
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"kind must be a non-empty string, got {kind!r}")
    if type(version) is not int or version < 1:
        raise ConfigError(f"version must be a positive integer, got {version!r}")
    if not isinstance(arrays, Mapping):
        raise ConfigError(f"arrays must be a dict of name -> array, got {type(arrays).__name__}")
    members: dict[str, np.ndarray] = {}
    for name in sorted(arrays):
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == _META:
            raise ConfigError(
                f"array name {name!r} is not allowed: use '/'-separated parts made of letters, digits, "
                f"'_', '.', '-', each starting with a letter, digit or '_' (and not {_META!r})"
            )
        members[name] = _canonical(name, arrays[name])
    user = _to_json(meta, "meta")
    if not isinstance(user, dict):
        raise ConfigError(f"meta must be a dict, got {type(meta).__name__}")
    clash = [key for key in _RESERVED if key in user]
    if clash:
        raise ConfigError(f"meta may not use the reserved key(s) {clash}; they are written by glassnet itself")
    header = {
        "format": kind,
        "format_version": version,
        "glassnet_version": __version__,
        **user,
        "arrays": {name: {"shape": list(a.shape), "dtype": a.dtype.name} for name, a in members.items()},
        "sha256": sha256_of_arrays(members),
    }
    header["meta_sha256"] = sha256_of_meta(header)
    blob = json.dumps(header, indent=1, allow_nan=False).encode("ascii")
    if len(blob) > MAX_META_BYTES:
        raise ConfigError(f"metadata is {len(blob)} bytes as JSON; the limit is {MAX_META_BYTES}")
    count, depth = _json_shape(header)
    if count > MAX_META_ELEMENTS or depth > MAX_META_DEPTH or len(members) > MAX_MEMBERS:
        raise ConfigError(
            f"this file could not be read back: its metadata holds {count} JSON values nested {depth} deep and "
            f"{len(members)} arrays (the limits are {MAX_META_ELEMENTS}, {MAX_META_DEPTH} and {MAX_MEMBERS})"
        )
    return blob, members


def _write_npz(f: BinaryIO, members: Mapping[str, np.ndarray], blob: bytes) -> None:
    """What ``np.savez`` writes (stored, one ``.npy`` per array), metadata first.

    Written by hand only so that array names such as ``"file"`` cannot collide
    with ``np.savez``'s own keyword arguments.
    """
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in ((_META, np.frombuffer(blob, dtype=np.uint8)), *members.items()):
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, array, allow_pickle=False)


def load_arrays(
    path: str | os.PathLike, kind: str, *, version: int = FORMAT_VERSION
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a ``kind`` archive written by :func:`save_arrays`; return ``(arrays, meta)``.

    ``meta`` is what was saved (after JSON conversion), without the reserved
    keys.  A file of another kind, of a format version above ``version``, or
    failing any check of the module docstring raises :class:`FileFormatError`
    with a message that starts with ``path`` (so does a path that is not a
    regular file: a FIFO, a device, a directory).
    """
    label = os.fspath(path)
    with open_regular(label) as f:
        try:
            return _read_archive(f, kind, version)
        except _Refused as exc:
            raise FileFormatError(f"{label}: {exc}") from None
        except _READ_ERRORS as exc:
            raise FileFormatError(
                f"{label}: not a readable glassnet file; it is corrupt or truncated ({type(exc).__name__}: {exc})"
            ) from exc


class _Refused(Exception):
    """A reason to refuse the file; :func:`load_arrays` prefixes the path and raises FileFormatError."""


def _read_archive(f: BinaryIO, kind: str, version: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    file_size = os.fstat(f.fileno()).st_size
    magic = f.read(len(_ZIP_MAGIC))
    if magic != _ZIP_MAGIC:
        raise _Refused(_describe_foreign(magic))
    _check_central_directory_size(f, file_size)
    f.seek(0)
    with zipfile.ZipFile(f) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _Refused(f"the archive has {len(infos)} members; glassnet files hold at most {MAX_MEMBERS}")
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Refused("the archive lists a member twice")
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _Refused(f"unexpected member {info.filename!r} (a glassnet file holds only .npy arrays)")
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise _Refused(
                    f"member {info.filename!r} is compressed (method {info.compress_type}, {info.compress_size} bytes "
                    f"for {info.file_size}); glassnet files store arrays uncompressed"
                )
            if info.file_size > file_size:
                raise _Refused(f"member {info.filename!r} claims {info.file_size} bytes, more than the whole file")
            members[info.filename[: -len(".npy")]] = info
        _check_no_overlap(f, infos, archive.start_dir)
        if _META not in members:
            raise _Refused(f"no {_META} member: not a {kind!r} file")
        if members[_META].file_size > MAX_META_BYTES + 4096:
            raise _Refused(
                f"the metadata member is {members[_META].file_size} bytes, over the limit of {MAX_META_BYTES}"
            )
        header = _parse_header(_read_meta(archive, members[_META]))
        spec = _check_header(header, kind, version)
        missing = sorted(set(spec) - set(members))
        extra = sorted(set(members) - set(spec) - {_META})
        if missing or extra:
            raise _Refused(f"arrays listed in the metadata but absent: {missing}; present but not listed: {extra}")
        declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype in spec.values())
        if declared > file_size:
            raise _Refused(
                f"the metadata declares {declared} bytes of arrays, more than the whole file ({file_size} bytes)"
            )
        arrays = {
            name: _read_npy(archive, members[name], name, dtype, shape) for name, (shape, dtype) in spec.items()
        }
    if sha256_of_arrays(arrays) != header["sha256"]:
        raise _Refused("sha256 mismatch: the array data is not what was saved (the file was altered or damaged)")
    user = {key: value for key, value in header.items() if key not in _RESERVED}
    return arrays, user


def _check_central_directory_size(f: BinaryIO, file_size: int) -> None:
    """Refuse a central directory over ``MAX_CENTRAL_DIRECTORY`` bytes, reading only the zip's end record.

    ``zipfile`` reads the whole central directory and makes one object per
    entry before we see any of it; a file of a few megabytes can hold a
    hundred thousand entries.  A missing or garbled end record is left to
    ``zipfile``, which refuses it.
    """
    tail_size = min(file_size, _END_RECORD.size + 65535)  # the end record, then a comment of up to 64 KiB
    f.seek(file_size - tail_size)
    tail = f.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _END_RECORD.size > len(tail):
        return
    _, _, _, _, entries, cd_size, _, _ = _END_RECORD.unpack_from(tail, at)
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and at >= _ZIP64_LOCATOR.size:
        signature, _, record_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if signature == b"PK\x06\x07" and record_offset + _ZIP64_END_RECORD.size <= file_size:
            f.seek(record_offset)
            record = f.read(_ZIP64_END_RECORD.size)
            if record[:4] == b"PK\x06\x06":
                fields = _ZIP64_END_RECORD.unpack(record)
                entries, cd_size = fields[7], fields[8]
    if cd_size > MAX_CENTRAL_DIRECTORY or entries > MAX_MEMBERS:
        raise _Refused(
            f"the zip directory lists {entries} members in {cd_size} bytes; glassnet files hold at most "
            f"{MAX_MEMBERS} members in {MAX_CENTRAL_DIRECTORY} bytes"
        )


def _check_no_overlap(f: BinaryIO, infos: list[zipfile.ZipInfo], directory_start: int) -> None:
    """Every member's local header and data must lie before the next member and the central directory.

    An overlapping-member zip bomb points many directory entries into the
    same bytes (one member's data holding the next members whole), so a
    file of 8 MiB can declare gigabytes of valid arrays.  Reads 30 bytes
    and a file name per member.
    """
    spans = []
    for info in infos:
        f.seek(info.header_offset)
        raw = f.read(_LOCAL_HEADER.size)
        if len(raw) < _LOCAL_HEADER.size or raw[:4] != _ZIP_MAGIC:
            raise _Refused(f"member {info.filename!r}: no local header at offset {info.header_offset}")
        fields = _LOCAL_HEADER.unpack(raw)
        name_length, extra_length = fields[-2], fields[-1]
        end = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort()
    for (start, end, name), (next_start, _, next_name) in zip(spans, spans[1:] + [(directory_start, 0, None)]):
        if end > next_start:
            what = f"member {next_name!r}" if next_name is not None else "the zip directory"
            raise _Refused(
                f"member {name!r} overlaps {what} (its data runs to byte {end}, past {next_start}): "
                "an overlapping-member zip bomb, or a damaged file"
            )


def _describe_foreign(magic: bytes) -> str:
    if not magic:
        return "the file is empty"
    if npy_format.MAGIC_PREFIX.startswith(magic):
        return "a single .npy array, not a glassnet .npz archive"
    if magic[:1] == b"\x80":
        return "looks like a Python pickle, which glassnet never loads"
    return f"not a glassnet file: expected a .npz zip archive starting with {_ZIP_MAGIC!r}, found {magic!r}"


def _npy_header(fp: BinaryIO, name: str | None) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from a ``.npy`` header, refusing pickled objects and unknown versions.

    ``name`` is the archive member's name for messages (None: a lone ``.npy`` file).
    """
    what = f"array {name!r}" if name is not None else "the array"
    npy_version = npy_format.read_magic(fp)
    if npy_version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(fp)
    elif npy_version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(fp)
    else:
        raise _Refused(f"{what} uses .npy format version {npy_version}, which glassnet does not read")
    if dtype.hasobject:
        raise _Refused(f"{what} holds pickled Python objects; glassnet never unpickles")
    return tuple(shape), fortran, dtype


def _read_meta(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of the metadata member (a 1-D uint8 ``.npy``), read once, as ``bytes``."""
    with archive.open(info) as fp:
        shape, _, dtype = _npy_header(fp, _META)
        if dtype != _DTYPES["uint8"] or len(shape) != 1:
            raise _Refused(f"the metadata member is a {dtype} array of shape {shape}, expected a 1-D byte array")
        if info.file_size - fp.tell() != shape[0]:
            raise _Refused(f"the metadata member should have {shape[0]} data bytes, it holds {info.file_size - fp.tell()}")
        raw = fp.read(shape[0])
        if len(raw) != shape[0] or fp.read(1):  # reading to the end also makes zipfile check the CRC
            raise _Refused("the metadata member is truncated")
    return raw


def _read_npy(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, dtype: np.dtype, shape: tuple[int, ...]
) -> np.ndarray:
    """Read one ``.npy`` member after checking its header against ``dtype`` and ``shape``.

    The data is read only when the header agrees and the member holds exactly
    ``prod(shape) * itemsize`` bytes after it, so a lying header can neither
    unpickle anything nor make us allocate more than the file's size.
    """
    with archive.open(info) as fp:
        got_shape, fortran, got_dtype = _npy_header(fp, name)
        if got_dtype != dtype:
            raise _Refused(f"array {name!r} has dtype {got_dtype} in the file but {dtype.name} in the metadata")
        if got_shape != shape:
            raise _Refused(f"array {name!r} has shape {got_shape} in the file but {shape} in the metadata")
        if fortran and len(shape) > 1:
            raise _Refused(f"array {name!r} is stored in Fortran order; glassnet writes C order")
        n_bytes = math.prod(shape) * dtype.itemsize
        if info.file_size - fp.tell() != n_bytes:
            raise _Refused(
                f"array {name!r} should have {n_bytes} data bytes, the member holds {info.file_size - fp.tell()}"
            )
        array = np.empty(shape, dtype=dtype)
        got = _read_into(fp, array.reshape(-1).view(np.uint8))
        if got != n_bytes or fp.read(1):  # reading to the end also makes zipfile check the CRC
            raise _Refused(f"array {name!r} is truncated")
    return array


def _read_into(fp: BinaryIO, view: np.ndarray) -> int:
    """Fill the uint8 array ``view`` from ``fp`` in chunks of ``_CHUNK`` bytes; return the bytes read.

    (A zip member's ``readinto`` reads the whole request into a temporary
    ``bytes`` and copies it: twice the array's size at the peak.)
    """
    pos = 0
    while pos < view.size:
        chunk = fp.read(min(_CHUNK, view.size - pos))
        if not chunk:
            break
        view[pos : pos + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        pos += len(chunk)
    return pos


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Read one ``.npy`` array (numbers or booleans only) without trusting it.

    Like ``np.load(path, allow_pickle=False)``, but a path that is not a
    regular file, an empty or truncated file, a header that declares more
    data than the file holds (``np.load`` would allocate it first) or any
    bytes after the data raise :class:`FileFormatError` naming the path.
    """
    label = os.fspath(path)
    with open_regular(label) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            if size == 0:
                raise _Refused("the file is empty, not a .npy array")
            if f.read(6) != npy_format.MAGIC_PREFIX:
                raise _Refused("not a .npy array (it does not start with the .npy magic string)")
            f.seek(0)
            shape, fortran, dtype = _npy_header(f, None)
            if dtype.kind not in "biuf" or dtype.fields is not None:
                raise _Refused(f"inputs must be numbers, got an array of dtype {dtype}")
            n_bytes = math.prod(shape) * dtype.itemsize
            if size - f.tell() != n_bytes:
                raise _Refused(
                    f"the header declares a {dtype} array of shape {shape} ({n_bytes} data bytes), "
                    f"the file holds {size - f.tell()}"
                )
            array = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
            if _read_into(f, array.reshape(-1).view(np.uint8)) != n_bytes:
                raise _Refused("the file is truncated")
        except _Refused as exc:
            raise FileFormatError(f"{label}: {exc}") from None
        except _READ_ERRORS as exc:
            raise FileFormatError(f"{label}: not a readable .npy array ({type(exc).__name__}: {exc})") from exc
    return array.T if fortran else array


def _json_extent(raw: bytes) -> int:
    """An upper bound of the number of JSON values in ``raw``, counted without parsing it.

    Each ``,``, ``[`` and ``{`` counts one: every value but the first of a
    container follows a comma, and every container is one value.  Those
    characters inside strings count too (an over-estimate, never an
    under-estimate); three C-level scans, nothing allocated.
    """
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def _json_shape(value: Any) -> tuple[int, int]:
    """``(number of values, nesting depth)`` of parsed JSON, walked without recursion."""
    count, deepest = 0, 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return count, deepest


def _parse_header(raw: bytes) -> dict[str, Any]:
    extent = _json_extent(raw)
    if extent > MAX_META_ELEMENTS:
        raise _Refused(
            f"the metadata holds about {extent} JSON values; glassnet metadata holds at most {MAX_META_ELEMENTS}"
        )
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise _Refused(f"the metadata is nested deeper than {MAX_META_DEPTH} levels") from None
    except ValueError as exc:
        raise _Refused(f"the metadata is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _Refused(f"the metadata is a JSON {type(header).__name__}, expected an object")
    count, depth = _json_shape(header)
    if depth > MAX_META_DEPTH:
        raise _Refused(f"the metadata is nested {depth} levels deep; glassnet metadata nests at most {MAX_META_DEPTH}")
    if count > MAX_META_ELEMENTS:  # not reached when the estimate above holds; kept as the exact rule
        raise _Refused(f"the metadata holds {count} JSON values; glassnet metadata holds at most {MAX_META_ELEMENTS}")
    return header


def _check_header(header: dict[str, Any], kind: str, version: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Check the reserved keys; return ``{name: (shape, dtype)}`` of the listed arrays."""
    found = header.get("format")
    if found != kind:
        if isinstance(found, str):
            raise _Refused(f"this is a {found!r} file, expected a {kind!r} file")
        raise _Refused(f"not a {kind!r} file (the metadata names no format)")
    file_version = header.get("format_version")
    if type(file_version) is not int or file_version < 1:
        raise _Refused(f"format_version must be a positive integer, got {file_version!r}")
    if file_version > version:
        raise _Refused(
            f"made by a newer glassnet (format version {file_version}); this glassnet reads version {version}"
        )
    if file_version < version:
        raise _Refused(f"format version {file_version} is no longer supported; this glassnet reads version {version}")
    if not isinstance(header.get("glassnet_version"), str):
        raise _Refused(f"glassnet_version must be a string, got {header.get('glassnet_version')!r}")
    if not isinstance(header.get("sha256"), str) or not _SHA_RE.match(header["sha256"]):
        raise _Refused(f"sha256 must be 64 lowercase hex digits, got {header.get('sha256')!r}")
    if not isinstance(header.get("meta_sha256"), str) or not _SHA_RE.match(header["meta_sha256"]):
        raise _Refused(f"meta_sha256 must be 64 lowercase hex digits, got {header.get('meta_sha256')!r}")
    if sha256_of_meta(header) != header["meta_sha256"]:
        raise _Refused("meta_sha256 mismatch: the metadata is not what was saved (the file was edited or damaged)")
    listed = header.get("arrays")
    if not isinstance(listed, dict):
        raise _Refused(f"'arrays' must be an object of name -> {{shape, dtype}}, got {listed!r}")
    spec: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name, entry in listed.items():
        if not _NAME_RE.match(name) or name == _META:
            raise _Refused(f"bad array name {name!r} in the metadata")
        if not isinstance(entry, dict) or set(entry) != {"shape", "dtype"}:
            raise _Refused(f"array {name!r}: the metadata entry must be {{'shape': [...], 'dtype': ...}}, got {entry!r}")
        shape, dtype = entry["shape"], entry["dtype"]
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _Refused(f"array {name!r}: shape must be a list of non-negative integers, got {shape!r}")
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise _Refused(f"array {name!r}: dtype must be one of {', '.join(_DTYPES)}, got {dtype!r}")
        spec[name] = (tuple(shape), _DTYPES[dtype])
    return spec


# ---------------------------------------------------------------------- models
def save_model(path: str | os.PathLike, model: Sequential, *, meta: Mapping[str, Any] | None = None) -> None:
    """Save ``model`` (architecture, parameters, ``model.meta`` updated with ``meta``) atomically to ``path``.

    Every layer must be a class registered in :data:`glassnet.nn.layers.LAYERS`
    (and every activation in :data:`glassnet.ACTIVATIONS`); the file is
    rebuilt in memory before it is written, so a model that could not be
    loaded back raises :class:`ConfigError` and nothing is written.
    ``model.meta`` itself is not modified.  The arrays written are
    :func:`model_arrays` (the parameters, and any non-parameter state).
    """
    header = model_header(model, meta)
    arrays = model_arrays(model)
    blob, members = _encode(arrays, header, MODEL_FORMAT, FORMAT_VERSION)
    try:  # what load_model would do with this file
        _model_from(json.loads(blob), members, allow_nonfinite=True)
    except _Refused as exc:
        raise ConfigError(f"this model cannot be saved so that it loads back: {exc}") from None
    atomic_write(path, lambda f: _write_npz(f, members, blob))


def model_header(model: Sequential, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"dtype", "layers", "meta"}``: what a model file says about ``model`` besides its arrays.

    Raises :class:`ConfigError` for a layer or activation that is not
    registered (it could not be rebuilt when the file is read).
    """
    if not isinstance(model, Sequential):
        raise ConfigError(f"save_model needs a glassnet Sequential, got {type(model).__name__}")
    if meta is not None and not isinstance(meta, Mapping):
        raise ConfigError(f"meta must be a dict, got {type(meta).__name__}")
    layers = []
    for i, layer in enumerate(model.layers):
        type_name = type(layer).__name__
        if LAYERS.get(type_name) is not type(layer):
            raise ConfigError(
                f"layer {i} is a {type_name}, which is not registered in glassnet.nn.layers.LAYERS, so it cannot be saved"
            )
        if isinstance(layer, Activation) and ACTIVATIONS.get(layer.fn.name) is not type(layer.fn):
            raise ConfigError(
                f"layer {i} uses the activation {type(layer.fn).__name__}, which is not registered in "
                "glassnet.ACTIVATIONS under its name, so it cannot be saved"
            )
        layers.append({"type": type_name, "config": layer.config()})
    if len(layers) > MAX_LAYERS:
        raise ConfigError(f"a model file holds at most {MAX_LAYERS} layers, this model has {len(layers)}")
    user_meta = {**model.meta, **(meta or {})}
    return {"dtype": model.dtype.name, "layers": layers, "meta": user_meta}


def load_model(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> Sequential:
    """Load a model saved by :func:`save_model` (or exported as safetensors); ``model.meta`` holds the saved metadata.

    Raises :class:`FileFormatError` (message starting with ``path``) for a
    file that is not an intact glassnet model file of a version this glassnet
    reads, or whose layers do not rebuild into a consistent model, or whose
    parameters hold NaN or infinity (such a model predicts nothing useful:
    every argmax is class 0).  ``allow_nonfinite=True`` loads those anyway,
    for inspecting a broken file.
    """
    from glassnet.io import safetensors  # it builds on this module

    label = os.fspath(path)
    if safetensors.is_safetensors(label):
        return safetensors.load_model_safetensors(label, allow_nonfinite=allow_nonfinite)
    arrays, header = load_arrays(label, MODEL_FORMAT)
    try:
        return _model_from(header, arrays, allow_nonfinite=allow_nonfinite)
    except _Refused as exc:
        raise FileFormatError(f"{label}: {exc}") from None


def model_arrays(model: Sequential) -> dict[str, np.ndarray]:
    """The arrays a model file (and a checkpoint's ``param/`` part) holds: name -> live array.

    The parameters, ``model.params()`` (``"0.W"``, ``"0.b"``, ...), and the
    non-parameter state, ``model.state()`` (BatchNorm's ``"1.running_mean"``,
    ``"1.running_var"``), under ``"<layer index>.<name>"``: every array
    returned is written, covered by the digest and restored by
    :func:`load_model` through :func:`set_model_arrays`.  A new kind of model
    array goes in this function and in :func:`set_model_arrays`, nowhere else.
    """
    params, state = model.params(), model.state()
    clash = sorted(set(params) & set(state))
    if clash:
        raise ConfigError(f"the names {clash} are both a parameter and a state array, so the model cannot be saved")
    return {**params, **state}


def set_model_arrays(model: Sequential, arrays: Mapping[str, np.ndarray]) -> None:
    """Copy ``arrays`` (names and shapes exactly those of :func:`model_arrays`) into ``model``."""
    params, state = model.params(), model.state()
    extra = sorted(set(arrays) - set(params) - set(state))
    if extra:
        raise ShapeError(f"unexpected model arrays {extra}")
    model.set_params({name: arrays[name] for name in params if name in arrays})
    model.set_state({name: arrays[name] for name in state if name in arrays})


def nonfinite_summary(name: str, array: np.ndarray) -> str | None:
    """``None`` for an all-finite array, else e.g. ``"'0.W' holds 2 NaN and 1 inf of 24 values (first at (0, 3))"``."""
    if array.dtype.kind != "f":
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    bad = ~finite
    n_nan = int(np.count_nonzero(np.isnan(array)))
    n_inf = int(np.count_nonzero(bad)) - n_nan
    first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), array.shape)) if array.ndim else ()
    parts = [f"{n_nan} NaN" if n_nan else "", f"{n_inf} inf" if n_inf else ""]
    return f"{name!r} holds {' and '.join(p for p in parts if p)} of {array.size} values (first at {first})"


def _model_from(header: dict[str, Any], arrays: dict[str, np.ndarray], *, allow_nonfinite: bool = False) -> Sequential:
    """Build the model described by a model header, entirely in memory; raise _Refused if it does not fit."""
    dtype = header.get("dtype")
    if dtype not in ("float32", "float64"):
        raise _Refused(f"model dtype must be 'float32' or 'float64', got {dtype!r}")
    specs = header.get("layers")
    if not isinstance(specs, list) or not specs:
        raise _Refused(f"'layers' must be a non-empty list, got {specs!r}"[:300])
    if len(specs) > MAX_LAYERS:
        raise _Refused(f"the model lists {len(specs)} layers; a glassnet model file holds at most {MAX_LAYERS}")
    user_meta = header.get("meta")
    if not isinstance(user_meta, dict):
        raise _Refused(f"'meta' must be an object, got {user_meta!r}"[:300])
    for name, array in arrays.items():
        if array.dtype != np.dtype(dtype):
            raise _Refused(f"parameter {name!r} is {array.dtype.name} but the model is {dtype}")
    if not allow_nonfinite:
        for name in sorted(arrays):
            problem = nonfinite_summary(name, arrays[name])
            if problem is not None:
                raise _Refused(
                    f"parameter {problem}: a model with NaN or infinite weights cannot predict "
                    "(to inspect it anyway: glassnet info --allow-nonfinite, or load_model(path, allow_nonfinite=True))"
                )
    layers: list[Layer] = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or set(spec) != {"type", "config"}:
            raise _Refused(f"layer {i}: expected {{'type': ..., 'config': {{...}}}}, got {spec!r}"[:300])
        if not isinstance(spec["type"], str) or not isinstance(spec["config"], dict):
            raise _Refused(f"layer {i}: 'type' must be a string and 'config' an object, got {spec!r}"[:300])
        try:
            layer = layer_from_config(spec["type"], spec["config"])
        except (GlassnetError, TypeError, ValueError, KeyError, OverflowError) as exc:
            raise _Refused(f"layer {i} ({spec['type']}) cannot be rebuilt from {spec['config']!r}: {exc}"[:300]) from None
        if isinstance(layer, Dense):  # check the size before Sequential allocates weights of that size
            for key, want in (("W", (layer.n_in, layer.n_out)), ("b", (layer.n_out,))):
                got = arrays.get(f"{i}.{key}")
                if got is None:
                    raise _Refused(f"parameter '{i}.{key}' of layer {i} ({layer.describe()}) is not in the file")
                if got.shape != want:
                    raise _Refused(f"parameter '{i}.{key}' has shape {got.shape}, but layer {i} is {layer.describe()}")
        layers.append(layer)
    try:
        model = Sequential(layers, rng=np.random.default_rng(0), dtype=dtype)
    except (GlassnetError, TypeError, ValueError) as exc:
        raise _Refused(f"the layers do not form a consistent model: {exc}") from None
    expected = {name: p.shape for name, p in model_arrays(model).items()}
    got = {name: a.shape for name, a in arrays.items()}
    if expected != got:
        raise _Refused(f"the parameters {got} do not match the layers, which need {expected}"[:500])
    set_model_arrays(model, arrays)
    model.meta = user_meta
    return model
