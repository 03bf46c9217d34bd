"""Crafted hostile files (issue 14), shared by the tests and by a measuring script.

Each builder writes one file that once cost glassnet gigabytes, seconds or a hang, at a size
chosen by the caller: the tests build small ones of the same structure, the script the full ones.

    python tests/hostile.py [--full] [--timeout S]

runs every case in its own subprocess and prints its outcome, wall time and peak memory (how much the
child's maximum resident set size grew during the load).  Run it with
``PYTHONPATH`` pointing at another tree to measure that tree (for a before/after comparison).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

FORMAT_VERSION = 2


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    out = io.BytesIO()
    npy_format.write_array_header_1_0(out, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return out.getvalue()


def _meta_sha256(header: dict) -> str:
    body = {k: v for k, v in header.items() if k != "meta_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class _ArrayDigest:
    """``glassnet.io.serialize.sha256_of_arrays``, fed one array at a time in name order, bytes streamed."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def field(self, data: bytes) -> None:
        self.digest.update(struct.pack("<Q", len(data)))
        self.digest.update(data)

    def array(self, name: str, dtype: str, shape: tuple[int, ...], chunks) -> None:
        self.field(name.encode())
        self.field(np.dtype(dtype).str.encode())
        self.field(",".join(map(str, shape)).encode())
        total = sum(len(c) for c in chunks)
        self.digest.update(struct.pack("<Q", total))
        for chunk in chunks:
            self.digest.update(chunk)


def _local_header(name: bytes, crc: int, size: int) -> bytes:
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, size, size, len(name), 0) + name


def _central_entry(name: bytes, crc: int, size: int, offset: int) -> bytes:
    return struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0x21, crc, size, size,
                       len(name), 0, 0, 0, 0, 0, offset) + name


def _end_record(n_entries: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n_entries, n_entries, cd_size, cd_offset, 0)


def overlapping_zip_bomb(path: Path, n_members: int = 160, inner_bytes: int = 8 * 2**20) -> int:
    """Case 1: a model file whose ``n_members`` stored members nest inside each other.

    Member ``k``'s data is a valid ``.npy`` (uint8, 1-D) whose bytes are member ``k+1`` whole
    (local header and data), down to ``inner_bytes`` zeros; every CRC is right, the metadata
    lists every member with its shape and carries valid digests of the arrays and of itself.  The
    file is about ``inner_bytes`` long and declares about ``n_members * inner_bytes`` bytes of
    arrays.  Returns the declared number of array bytes.
    """
    names = [f"bomb/{k:04d}.npy" for k in range(n_members)]
    inner = bytes(inner_bytes)
    rest = [inner]  # member k's array bytes, innermost first: local header k+1, npy header k+1, ..., the zeros
    rest_len = len(inner)
    arrays: list[tuple[tuple[int, ...], list[bytes]]] = [((), [])] * n_members
    local: list[bytes] = [b""] * n_members
    npy: list[bytes] = [b""] * n_members
    crcs, sizes = [0] * n_members, [0] * n_members
    for k in reversed(range(n_members)):
        arrays[k] = ((rest_len,), list(rest))
        npy[k] = _npy_header((rest_len,), "u1")
        crc = zlib.crc32(npy[k])
        for part in rest:
            crc = zlib.crc32(part, crc)
        crcs[k], sizes[k] = crc, len(npy[k]) + rest_len
        local[k] = _local_header(names[k].encode(), crc, sizes[k])
        rest = [local[k], npy[k], *rest]
        rest_len += len(local[k]) + len(npy[k])
    digest = _ArrayDigest()
    W, b = np.zeros((4, 2), np.float32), np.zeros(2, np.float32)
    entries = {"0.W": ("float32", (4, 2), [W.tobytes()]), "0.b": ("float32", (2,), [b.tobytes()])}
    for k, name in enumerate(names):
        entries[name[: -len(".npy")]] = ("uint8", *arrays[k])
    for name in sorted(entries):
        digest.array(name, *entries[name])
    header = {
        "format": "glassnet-model", "format_version": FORMAT_VERSION, "glassnet_version": "0.1.0",
        "dtype": "float32", "layers": [{"type": "Dense", "config": {"n_in": 4, "n_out": 2, "init": "auto"}}],
        "meta": {},
        "arrays": {name: {"shape": list(shape), "dtype": dtype} for name, (dtype, shape, _) in entries.items()},
        "sha256": digest.digest.hexdigest(),
    }
    header["meta_sha256"] = _meta_sha256(header)
    meta = json.dumps(header).encode()
    central: list[bytes] = []
    with open(path, "wb") as f:
        for name, data in (("__meta__.npy", _npy_header((len(meta),), "u1") + meta),
                           ("0.W.npy", _npy_header((4, 2), "<f4") + W.tobytes()),
                           ("0.b.npy", _npy_header((2,), "<f4") + b.tobytes())):
            central.append(_central_entry(name.encode(), zlib.crc32(data), len(data), f.tell()))
            f.write(_local_header(name.encode(), zlib.crc32(data), len(data)) + data)
        for k in range(n_members):  # member k's local header sits right after member k-1's npy header
            central.append(_central_entry(names[k].encode(), crcs[k], sizes[k], f.tell()))
            f.write(local[k] + npy[k])
        f.write(inner)
        cd_offset = f.tell()
        f.write(b"".join(central))
        f.write(_end_record(len(central), f.tell() - cd_offset, cd_offset))
    return sum(shape[0] for shape, _ in arrays) + W.nbytes + b.nbytes


def _resealed_model(path: Path, edit) -> None:
    """Save a small model, let ``edit(header)`` change its metadata, and write it back with valid digests."""
    import glassnet as gn
    from glassnet.io.serialize import save_model

    model = gn.mlp([4, 3, 2], rng=0)
    save_model(path, model)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    header = json.loads(np.load(io.BytesIO(members["__meta__.npy"])).tobytes())
    edit(header)
    header["meta_sha256"] = _meta_sha256(header)
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(header, separators=(",", ":")).encode(), np.uint8))
    members["__meta__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def metadata_of_empty_lists(path: Path, n_lists: int = 22_000_000) -> None:
    """Case 2a: the metadata (valid digests) carries ``n_lists`` empty lists (3 bytes each)."""
    def edit(header):
        header["meta"]["junk"] = [[] for _ in range(n_lists)]
    _resealed_model(path, edit)


def metadata_of_identity_layers(path: Path, n_layers: int = 1_350_000) -> None:
    """Case 2b: a metadata file listing ``n_layers`` identity activation layers after the Dense ones."""
    def edit(header):
        header["layers"] += [{"type": "Activation", "config": {"fn": "identity"}}] * n_layers
    _resealed_model(path, edit)


def nonfinite_model(path: Path, value: float = float("nan")) -> None:
    """Case 3: an intact model file (valid digests) whose ``0.W`` holds ``value`` at [1, 2]."""
    import glassnet as gn
    from glassnet.io.serialize import save_model

    model = gn.mlp([64, 8, 10], rng=0)
    model.params()["0.W"][1, 2] = value
    model.meta = {"dataset": "digits", "input_shape": [8, 8], "class_names": [str(i) for i in range(10)]}
    save_model(path, model)


def fifo_symlink(path: Path) -> None:
    """Case 4: ``path`` is a symbolic link to a FIFO that nobody writes."""
    fifo = path.with_name(path.name + ".fifo")
    os.mkfifo(fifo)
    os.symlink(fifo.name, path)


def gzip_idx_with_trailing_zeros(path: Path, trailing_bytes: int = 8 * 2**30, member_bytes: int = 2**30) -> None:
    """Case 6: an 8-byte IDX (uint8, one dimension of 0) then ``trailing_bytes`` zeros in concatenated gzip members."""
    zeros = bytes(min(member_bytes, 2**26))
    members: dict[int, bytes] = {}  # size -> one compressed gzip member of that many zeros (reused)
    with open(path, "wb") as f:
        f.write(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 0), mtime=0))
        left = trailing_bytes
        while left > 0:
            n = min(member_bytes, left)
            if n not in members:
                compressor, parts, written = zlib.compressobj(9, zlib.DEFLATED, 31), [], 0
                while written < n:
                    parts.append(compressor.compress(zeros[: min(len(zeros), n - written)]))
                    written += min(len(zeros), n - written)
                members[n] = b"".join(parts) + compressor.flush()
            f.write(members[n])
            left -= n


def empty_npy(path: Path) -> None:
    """Case 7: an empty ``.npy`` input file."""
    path.write_bytes(b"")


# ----------------------------------------------------------------------------- measuring
CHILD = r"""
import resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
import glassnet
from glassnet.io.serialize import load_model
from glassnet.data.idx import read_idx
try:
    import glassnet.io.safetensors  # imported by load_model on first use (where it exists): not the load's memory
except ImportError:
    pass
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    if mode == "model":
        load_model(path)
    elif mode == "idx":
        read_idx(path)
    outcome = "loaded"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:150]}"
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"{seconds:.2f}\t{(peak - before) / 1024:.0f}\t{outcome}")
"""


def measure(full: bool, timeout: float) -> None:
    import subprocess
    import tempfile

    scale = (lambda big, small: big) if full else (lambda big, small: small)
    with tempfile.TemporaryDirectory(prefix="glassnet-hostile-") as tmp:
        root = Path(tmp)
        cases = []
        declared = overlapping_zip_bomb(root / "bomb.npz", scale(160, 40), scale(8 * 2**20, 2**20))
        cases.append(("1 overlapping-member zip bomb", "model", root / "bomb.npz", declared))
        metadata_of_empty_lists(root / "lists.npz", scale(22_000_000, 2_000_000))
        cases.append(("2 metadata of empty lists", "model", root / "lists.npz", 0))
        metadata_of_identity_layers(root / "layers.npz", scale(1_350_000, 100_000))
        cases.append(("2 identity layers", "model", root / "layers.npz", 0))
        metadata_of_empty_lists(root / "lists-small.npz", scale(5_000_000, 500_000))
        cases.append(("2 empty lists, under 16 MiB", "model", root / "lists-small.npz", 0))
        metadata_of_identity_layers(root / "layers-small.npz", scale(300_000, 30_000))
        cases.append(("2 identity layers, under 16 MiB", "model", root / "layers-small.npz", 0))
        nonfinite_model(root / "nan.npz")
        cases.append(("3 NaN weight", "model", root / "nan.npz", 0))
        fifo_symlink(root / "fifo.npz")
        cases.append(("4 symlink to a FIFO", "model", root / "fifo.npz", 0))
        gzip_idx_with_trailing_zeros(root / "trailing.idx.gz", scale(8 * 2**30, 2**30))
        cases.append(("6 IDX + trailing gzip zeros", "idx", root / "trailing.idx.gz", 0))
        print("case\tfile MiB\tdeclared MiB\tseconds\tpeak RSS growth MiB\toutcome")
        for title, mode, path, declared in cases:
            size = path.stat().st_size if path.is_file() else 0
            try:
                out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True,
                                     text=True, timeout=timeout).stdout.strip()
            except subprocess.TimeoutExpired:
                out = f">{timeout:.0f}\t?\tstill running after {timeout:.0f} s (killed)"
            print(f"{title}\t{size / 2**20:.1f}\t{declared / 2**20:.0f}\t{out}")


if __name__ == "__main__":
    measure("--full" in sys.argv, float(sys.argv[sys.argv.index("--timeout") + 1]) if "--timeout" in sys.argv else 60.0)
