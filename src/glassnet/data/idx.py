"""Read and write IDX files, the format MNIST, Fashion-MNIST and KMNIST ship in.

An IDX file is a tiny header followed by the raw array, row-major, big-endian::

    offset  size         meaning
    0       2            0x00 0x00        (always zero)
    2       1            data type code   (table below)
    3       1            ndim             (number of dimensions, >= 1)
    4       4 * ndim     dims[0..ndim-1]  (unsigned 32-bit, big-endian)
    4+4*ndim prod(dims) * itemsize        the values, big-endian, C order

    code  dtype    itemsize      code  dtype     itemsize
    0x08  uint8    1             0x0C  int32     4
    0x09  int8     1             0x0D  float32   4
    0x0B  int16    2             0x0E  float64   8

So MNIST's ``t10k-images-idx3-ubyte`` starts ``00 00 08 03 | 00 00 27 10 |
00 00 00 1c | 00 00 00 1c``: ubyte, 3 dimensions, 10000 x 28 x 28, followed by
exactly 7,840,000 pixel bytes.  The files are usually gzip-compressed; this
module recognises gzip by its magic bytes ``1f 8b``, never by the file name.

:func:`read_idx` trusts nothing: every way a file can be wrong (bad magic,
unknown type code, short header, too few or too many data bytes, a corrupt or
truncated gzip stream) raises :class:`~glassnet.errors.FileFormatError` naming
the file and saying what is wrong.  It never allocates more memory than the
file actually holds, so a header claiming a 2**32 x 2**32 array costs nothing.
It decompresses only what the header declares plus at most
``TRAILING_PEEK`` bytes: data after the array is refused without reading it
all (8 GiB of zeros after an 8-byte array, in an 8 MiB file of concatenated
gzip members, once took 12 s to count), and a gzip file of more than
``MAX_GZIP_MEMBERS`` concatenated members is refused.  A path that is not a
regular file (a FIFO, a device, a directory) is refused without blocking.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np

from glassnet.core.files import open_regular
from glassnet.errors import DataError, FileFormatError

__all__ = ["IDX_DTYPES", "read_idx", "write_idx", "idx_bytes", "is_gzip", "TRAILING_PEEK", "MAX_GZIP_MEMBERS"]

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]

#: IDX type code -> big-endian numpy dtype.  The registry both directions use.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DIM = 2**31 - 1  # the IDX spec stores dims as 32-bit integers; real files stay far below
_CHUNK = 1 << 20
#: bytes read past the declared data to report trailing data (its exact size when it is smaller)
TRAILING_PEEK = 1 << 16
#: most concatenated gzip members accepted (an IDX file written by glassnet or found in the wild has one)
MAX_GZIP_MEMBERS = 64


def _codes_text() -> str:
    return ", ".join(f"0x{code:02X} ({dtype.name})" for code, dtype in IDX_DTYPES.items())


def is_gzip(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) starts with gzip's magic ``1f 8b``."""
    return head[:2] == _GZIP_MAGIC


def _read_exactly(stream: BinaryIO, n_bytes: int) -> bytes:
    """Read up to ``n_bytes`` (fewer only at end of stream), in bounded chunks."""
    parts = []
    remaining = n_bytes
    while remaining > 0:
        part = stream.read(min(remaining, _CHUNK))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _read_payload(stream: BinaryIO, n_bytes: int) -> bytearray:
    """Read at most ``n_bytes + 1`` bytes (the +1 detects trailing data).

    Grows the buffer as bytes actually arrive, so a header that lies about
    the size never makes us allocate what the file does not contain.  For a
    gzip stream, reading up to the end also makes gzip verify its CRC.
    """
    buffer = bytearray()
    remaining = n_bytes + 1
    while remaining > 0:
        part = stream.read(min(remaining, _CHUNK))
        if not part:
            break
        buffer += part
        remaining -= len(part)
    return buffer


class _Gunzip:
    """A gzip stream (one member or several concatenated), decompressed only as far as it is read.

    ``read(n)`` returns at most ``n`` bytes and decompresses no more than
    that (``zlib``'s ``max_length``), so a reader that stops early never pays
    for the rest.  Each member's CRC and length are checked by zlib when its
    end is reached; zero bytes between members are skipped, as ``gzip`` does;
    more than ``MAX_GZIP_MEMBERS`` members raise :class:`FileFormatError`.
    A stream that ends inside a member raises ``EOFError``, garbage
    ``zlib.error``.
    """

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.raw, self.name = raw, name
        self.members = 1
        self._inflate = zlib.decompressobj(31)  # 16 + 15: gzip header and trailer, 32 KiB window
        self._input = b""

    def _refill(self) -> bool:
        if not self._input:
            self._input = self.raw.read(_CHUNK)
        return bool(self._input)

    def read(self, size: int) -> bytes:
        parts, got = [], 0
        while got < size:
            if self._inflate.eof:
                self._input = self._inflate.unused_data + self._input
                self._input = self._input.lstrip(b"\x00")
                while not self._input and self._refill():
                    self._input = self._input.lstrip(b"\x00")
                if not self._input:
                    break  # the end of the last member
                self.members += 1
                if self.members > MAX_GZIP_MEMBERS:
                    raise FileFormatError(
                        f"{self.name}: more than {MAX_GZIP_MEMBERS} concatenated gzip members; an IDX file has one"
                    )
                self._inflate = zlib.decompressobj(31)
            if self._inflate.unconsumed_tail:
                data = self._inflate.unconsumed_tail
            elif self._refill():
                data, self._input = self._input, b""
            else:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            chunk = self._inflate.decompress(data, size - got)
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


def _parse(stream: BinaryIO, name: str, raw_size: int | None) -> np.ndarray:
    """Parse one IDX stream; ``raw_size`` is the byte count left in an uncompressed stream."""
    magic = _read_exactly(stream, 4)
    if len(magic) < 4:
        raise FileFormatError(
            f"{name}: not an IDX file: expected a 4-byte magic number, found only {len(magic)} byte(s)"
        )
    if magic[0] != 0 or magic[1] != 0:
        raise FileFormatError(
            f"{name}: not an IDX file: the magic number must start with two zero bytes, "
            f"found 0x{magic[0]:02X} 0x{magic[1]:02X}"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise FileFormatError(f"{name}: unknown IDX data type code 0x{code:02X}; expected one of {_codes_text()}")
    if ndim == 0:
        raise FileFormatError(f"{name}: IDX header says ndim=0; an IDX array needs at least 1 dimension")
    dims_bytes = _read_exactly(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise FileFormatError(
            f"{name}: header truncated: ndim={ndim} needs {4 * ndim} bytes of dimensions, found {len(dims_bytes)}"
        )
    dims = struct.unpack(f">{ndim}I", dims_bytes)
    for axis, size in enumerate(dims):
        if size > _MAX_DIM:
            raise FileFormatError(
                f"{name}: dimension {axis} is {size}, larger than the IDX maximum {_MAX_DIM} (corrupt header?)"
            )
    dtype = IDX_DTYPES[code]
    n_values = 1
    for size in dims:
        n_values *= size
    n_bytes = n_values * dtype.itemsize
    shape_text = "x".join(str(size) for size in dims)

    if raw_size is not None:
        # Uncompressed: compare with the real size before reading anything.
        available = raw_size - 4 - 4 * ndim
        if available < n_bytes:
            raise FileFormatError(
                f"{name}: truncated: expected {n_bytes} bytes of data, found {available} "
                f"(header says {dtype.name} array of shape {shape_text})"
            )
        if available > n_bytes:
            raise FileFormatError(
                f"{name}: {available - n_bytes} trailing byte(s) after the {n_bytes} bytes of data "
                f"that the header describes ({dtype.name} array of shape {shape_text})"
            )
    payload = _read_payload(stream, n_bytes)
    if len(payload) < n_bytes:
        raise FileFormatError(
            f"{name}: truncated: expected {n_bytes} bytes of data, found {len(payload)} "
            f"(header says {dtype.name} array of shape {shape_text})"
        )
    if len(payload) > n_bytes:
        extra = len(payload) - n_bytes + len(_read_exactly(stream, TRAILING_PEEK))
        amount = f"more than {TRAILING_PEEK}" if extra > TRAILING_PEEK else str(extra)
        raise FileFormatError(
            f"{name}: {amount} trailing byte(s) after the {n_bytes} bytes of data "
            f"that the header describes ({dtype.name} array of shape {shape_text})"
        )
    values = np.frombuffer(payload, dtype=dtype).reshape(dims)
    # Native byte order, writable, owning its memory.
    return values.astype(dtype.newbyteorder("="), copy=True) if dtype.itemsize > 1 else values


def _size_of(stream: BinaryIO) -> int | None:
    """Bytes left in a seekable stream, or None when it cannot be told."""
    try:
        here = stream.tell()
        end = stream.seek(0, os.SEEK_END)
        stream.seek(here)
        return end - here
    except (OSError, AttributeError, ValueError):
        return None


def _read_stream(raw: BinaryIO, name: str) -> np.ndarray:
    head = _read_exactly(raw, 2)
    try:
        raw.seek(-len(head), os.SEEK_CUR)
    except (OSError, AttributeError, ValueError):
        raw = io.BytesIO(head + raw.read())  # not seekable: buffer what is there
    if not is_gzip(head):
        return _parse(raw, name, _size_of(raw))
    try:
        return _parse(_Gunzip(raw, name), name, None)
    except FileFormatError:
        raise
    except EOFError as err:  # gzip stream ends before its end-of-stream marker
        raise FileFormatError(f"{name}: corrupt gzip stream: truncated ({err})") from err
    except (OSError, zlib.error) as err:  # a bad header, a bad CRC or length, a broken deflate stream
        raise FileFormatError(f"{name}: corrupt gzip stream: {_ZLIB_WORDS.get(_zlib_reason(err), err)}") from err


#: zlib's reasons, in the words gzip users know
_ZLIB_WORDS = {
    "incorrect data check": "CRC check failed",
    "incorrect length check": "length check failed (the ISIZE field does not match)",
    "incorrect header check": "not a gzip member where one should start",
}


def _zlib_reason(err: BaseException) -> str:
    """``"incorrect data check"`` from ``"Error -3 while decompressing data: incorrect data check"``."""
    return str(err).rsplit(": ", 1)[-1]


def read_idx(path_or_fileobj: PathOrFile) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a numpy array.

    path_or_fileobj : a path, or a binary file object opened for reading.
    Returns an array of shape ``dims`` in native byte order with the dtype of
    the header's type code (e.g. ``uint8`` of shape (10000, 28, 28) for MNIST's
    test images).

    Raises :class:`FileFormatError` (and nothing else for bad content) when
    the file is not a valid IDX file; the message names the file and the fault,
    e.g. ``truncated: expected 7840000 bytes of data, found 7839000``.  A path
    that cannot be opened at all raises the usual OSError (FileNotFoundError, ...);
    one that is not a regular file raises FileFormatError at once.
    """
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        path = Path(path_or_fileobj)
        with open_regular(path) as raw:
            return _read_stream(raw, str(path))
    name = str(getattr(path_or_fileobj, "name", "<file object>"))
    return _read_stream(path_or_fileobj, name)


def _dtype_code(array: np.ndarray) -> int:
    for code, dtype in IDX_DTYPES.items():
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize:
            return code
    raise DataError(
        f"an array of dtype {array.dtype} cannot be stored in IDX; expected one of {_codes_text()}"
    )


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of ``array``: header + big-endian values.

    ``read_idx`` is its inverse, and because a valid file holds exactly these
    bytes, ``hashlib.md5(idx_bytes(read_idx(path)))`` is the md5 of the
    file's decompressed content, without decompressing it a second time.
    Raises DataError for a dtype or shape IDX cannot store.
    """
    array = np.asarray(array)
    code = _dtype_code(array)
    if not 1 <= array.ndim <= 255:
        raise DataError(f"an IDX array needs 1 to 255 dimensions, got an array of shape {array.shape}")
    if any(size > _MAX_DIM for size in array.shape):
        raise DataError(f"every IDX dimension must be at most {_MAX_DIM}, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gzip: bool = True) -> Path:
    """Write ``array`` as an IDX file at ``path``, atomically; returns the path.

    The file is written to a temporary file in the same folder, flushed,
    fsync'ed and moved into place with ``os.replace``, so readers never see a
    half-written file.  With ``gzip=True`` the bytes are gzip-compressed (with
    a zero timestamp, so the output is reproducible).

    array : any shape with 1 to 255 dimensions, each < 2**31, of dtype uint8,
    int8, int16, int32, float32 or float64; anything else raises DataError.
    """
    data = idx_bytes(array)
    if gzip:
        data = _gzip_bytes(data)

    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return target


def _gzip_bytes(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as zipped:
        zipped.write(data)
    return out.getvalue()
