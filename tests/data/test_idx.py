"""IDX reading and writing: round trips, every kind of damage, and a fuzz test."""

from __future__ import annotations

import gzip
import io
import struct
from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glassnet.errors import DataError, FileFormatError
from glassnet.data.idx import IDX_DTYPES, idx_bytes, is_gzip, read_idx, write_idx
from paths import SHARED_MNIST



def _shared_mnist() -> Path:
    for folder in SHARED_MNIST:
        if (folder / "t10k-labels-idx1-ubyte.gz").is_file():
            return folder
    pytest.skip("the MNIST test files of shared/data/mnist are not on this machine")


def _sample(dtype: np.dtype, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype.newbyteorder("="))
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("code", sorted(IDX_DTYPES))
@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (1, 1, 1, 2)])
def test_round_trip_every_dtype_code(tmp_path, code, compress, shape):
    rng = np.random.default_rng(code)
    array = _sample(IDX_DTYPES[code], shape, rng)
    path = write_idx(tmp_path / "a.idx", array, gzip=compress)
    assert is_gzip(path.read_bytes()[:2]) is compress
    back = read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    # The header byte that names the dtype is the code we asked for.
    raw = gzip.decompress(path.read_bytes()) if compress else path.read_bytes()
    assert raw[2] == code and raw[3] == len(shape)


def test_header_layout_by_hand():
    array = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    assert idx_bytes(array) == bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    # Multi-byte values are big-endian: int16 258 = 0x0102.
    assert idx_bytes(np.array([258], dtype="<i2")) == bytes([0, 0, 0x0B, 1, 0, 0, 0, 1, 0x01, 0x02])
    assert idx_bytes(np.array([1.0], dtype=np.float64))[4 + 4 :] == struct.pack(">d", 1.0)


def test_real_mnist_header_and_labels():
    folder = _shared_mnist()
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test digits
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as stream:
        assert stream.read(16) == bytes.fromhex("00000803 00002710 0000001c 0000001c")


def test_gzip_is_detected_by_magic_not_name(tmp_path):
    array = np.arange(12, dtype=np.int32).reshape(3, 4)
    raw_named_gz = write_idx(tmp_path / "raw.gz", array, gzip=False)
    gz_named_raw = write_idx(tmp_path / "compressed-idx2-int", array, gzip=True)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)


def test_file_objects_seekable_and_not(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    for compress in (True, False):
        data = write_idx(tmp_path / "a", array, gzip=compress).read_bytes()
        np.testing.assert_array_equal(read_idx(io.BytesIO(data)), array)

        class Pipe:  # read() only, like a socket or a pipe
            def __init__(self, payload: bytes) -> None:
                self._inner = io.BytesIO(payload)

            def read(self, n: int = -1) -> bytes:
                return self._inner.read(n)

        np.testing.assert_array_equal(read_idx(Pipe(data)), array)


def test_write_is_atomic_and_reproducible(tmp_path):
    target = tmp_path / "x.idx.gz"
    write_idx(target, np.zeros((2, 2), dtype=np.uint8))
    first = target.read_bytes()
    write_idx(target, np.zeros((2, 2), dtype=np.uint8))
    assert target.read_bytes() == first  # mtime 0 in the gzip header: same bytes every time
    write_idx(target, np.ones((3,), dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(target), [1, 1, 1])
    with pytest.raises(DataError):
        write_idx(target, np.ones((3,), dtype=np.int64))
    np.testing.assert_array_equal(read_idx(target), [1, 1, 1])  # the failed write changed nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.idx.gz"]  # no temp file left


@pytest.mark.parametrize(
    "array, fragment",
    [
        (np.zeros(3, dtype=np.int64), "dtype int64 cannot be stored in IDX"),
        (np.zeros(3, dtype=bool), "dtype bool cannot be stored in IDX"),
        (np.zeros(3, dtype=np.uint16), "dtype uint16 cannot be stored in IDX"),
        (np.array(5, dtype=np.uint8), "needs 1 to 255 dimensions"),
    ],
)
def test_write_rejects_what_idx_cannot_hold(tmp_path, array, fragment):
    with pytest.raises(DataError, match=fragment):
        write_idx(tmp_path / "bad", array)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- damage, one kind at a time

GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))  # 16-byte header + 24 data bytes


def _read_bytes(tmp_path: Path, data: bytes, name: str = "f.idx") -> np.ndarray:
    path = tmp_path / name
    path.write_bytes(data)
    return read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "not an IDX file: expected a 4-byte magic number, found only 0 byte(s)"),
        (b"\x00\x00\x08", "not an IDX file: expected a 4-byte magic number, found only 3 byte(s)"),
        (b"\x01" + GOOD[1:], "magic number must start with two zero bytes, found 0x01 0x00"),
        (b"\x00\x07" + GOOD[2:], "magic number must start with two zero bytes, found 0x00 0x07"),
        (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX data type code 0x0A; expected one of 0x08 (uint8)"),
        (GOOD[:3] + b"\x00", "ndim=0; an IDX array needs at least 1 dimension"),
        (GOOD[:3] + b"\x05" + GOOD[4:12], "header truncated: ndim=5 needs 20 bytes of dimensions, found 8"),
        (GOOD[:-4], "truncated: expected 24 bytes of data, found 20"),
        (GOOD[:16], "truncated: expected 24 bytes of data, found 0"),
        (GOOD + b"\x00" * 3, "3 trailing byte(s) after the 24 bytes of data"),
        (GOOD[:4] + struct.pack(">3I", 2, 3, 5) + GOOD[16:], "truncated: expected 30 bytes of data, found 24"),
        (GOOD[:4] + struct.pack(">3I", 2, 3, 2) + GOOD[16:], "12 trailing byte(s) after the 12 bytes of data"),
        (GOOD[:4] + struct.pack(">3I", 2**32 - 1, 3, 4) + GOOD[16:], "dimension 0 is 4294967295, larger than"),
    ],
)
def test_each_fault_has_its_own_message(tmp_path, data, message, compress):
    if compress:
        data = gzip.compress(data)
    with pytest.raises(FileFormatError) as caught:
        _read_bytes(tmp_path, data, "broken.idx")
    assert message in str(caught.value)
    assert str(tmp_path / "broken.idx") in str(caught.value)  # the message names the file


def test_absurd_header_is_refused_without_allocating(tmp_path):
    # 2**31-1 x 2**31-1 x 2**31-1 doubles would be 8e28 bytes; the file has 8.
    header = bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", *([2**31 - 1] * 3))
    for data in (header + b"\x00" * 8, gzip.compress(header + b"\x00" * 8)):
        expected = f"truncated: expected {8 * (2**31 - 1) ** 3} bytes of data, found 8"
        with pytest.raises(FileFormatError, match=expected):
            _read_bytes(tmp_path, data)


def test_corrupt_gzip_streams(tmp_path):
    packed = bytearray(gzip.compress(GOOD))
    bad_crc = bytes(packed[:-8]) + bytes(b ^ 0xFF for b in packed[-8:-4]) + bytes(packed[-4:])
    with pytest.raises(FileFormatError, match="corrupt gzip stream: CRC check failed"):
        _read_bytes(tmp_path, bad_crc, "crc.gz")
    with pytest.raises(FileFormatError, match="corrupt gzip stream: truncated"):
        _read_bytes(tmp_path, bytes(packed[: len(packed) // 2]), "half.gz")
    with pytest.raises(FileFormatError, match="corrupt gzip stream"):
        _read_bytes(tmp_path, b"\x1f\x8b", "magic-only.gz")
    bad_block = bytearray(packed)
    bad_block[10] = 0xFF  # the deflate block header: an invalid block type
    with pytest.raises(FileFormatError, match=r"block.gz: corrupt gzip stream: .*invalid block type"):
        _read_bytes(tmp_path, bytes(bad_block), "block.gz")


def test_file_object_error_names_the_stream():
    stream = io.BytesIO(GOOD[:-1])
    stream.name = "in-memory.idx"
    with pytest.raises(FileFormatError, match=r"^in-memory.idx: truncated: expected 24 bytes of data, found 23"):
        read_idx(stream)


# --------------------------------------------------------------------------- fuzzing

_BASES = [
    idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5)),
    gzip.compress(idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5)), mtime=0),
    idx_bytes(np.linspace(-1, 1, 6).reshape(2, 3)),
    gzip.compress(idx_bytes(np.arange(-3, 4, dtype=np.int16)), mtime=0),
    gzip.compress(idx_bytes(np.arange(8, dtype=np.float32).reshape(2, 2, 2)), mtime=0),
]

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
)


def _mutate(data: bytes, mutations) -> bytes:
    buffer = bytearray(data)
    for kind, where, arg in mutations:
        where %= len(buffer) + 1
        if kind == "flip" and buffer:
            buffer[where % len(buffer)] ^= arg
        elif kind == "truncate":
            del buffer[where:]
        elif kind == "insert":
            buffer[where:where] = arg
    return bytes(buffer)


def test_fuzzed_files_give_an_array_or_file_format_error():
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=300,
        deadline=timedelta(seconds=2),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(base=st.sampled_from(range(len(_BASES))), mutations=st.lists(_mutation, min_size=1, max_size=4))
    def one_case(base, mutations):
        data = _mutate(_BASES[base], mutations)
        try:
            array = read_idx(io.BytesIO(data))
        except FileFormatError as error:
            assert str(error)  # every refusal says something
            outcomes["FileFormatError"] += 1
        else:
            assert isinstance(array, np.ndarray)
            outcomes["array"] += 1

    one_case()
    total = sum(outcomes.values())
    print(f"IDX fuzz: {total} mutated files -> {dict(outcomes)}")
    assert total >= 300
    assert outcomes["FileFormatError"] > 0 and outcomes["array"] > 0  # both paths were exercised
