"""The model loader against damaged and doctored files.

The contract: ``load_model`` either returns exactly the saved model (same
layers, bit-identical parameters, same metadata, same predictions), which is
only possible when the damage hit bytes that carry no meaning (a zip
timestamp, a duplicate size field), or raises ``FileFormatError``.  Never
another exception, never a wrong model, never a hang.

Each fuzz test prints one line with the number of files it tried.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import struct
import threading
import zipfile
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glassnet as gn
from glassnet.errors import FileFormatError
from glassnet.io.serialize import load_model, save_model, sha256_of_meta

N_BYTE_FUZZ = 300
N_HEADER_FUZZ = 150
FUZZ_SETTINGS = dict(
    deadline=timedelta(seconds=2),  # ~1 ms per case; generous so a busy machine cannot flake
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_SECONDS = 20.0


class LoaderHang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the loader can swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt a hanging call with LoaderHang (POSIX main thread; elsewhere no limit)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise LoaderHang(f"load_model did not return within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A small model with every layer type, saved once: ``(model, file bytes, X)``."""
    model = gn.mlp([4, 6, 5, 3], gn.get_activation("leaky_relu", slope=0.1), dropout=0.2, output="softmax", rng=11)
    for name, value in model.params().items():
        if name.endswith(".b"):
            value[...] = np.linspace(-0.3, 0.3, value.size, dtype=value.dtype)
    model.meta = {"class_names": ["a", "b", "c"], "mean": [0.5, 1.5, -2.0, 0.0]}
    path = tmp_path_factory.mktemp("fuzz-original") / "model.npz"
    save_model(path, model)
    X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32) * 3
    return model, path.read_bytes(), X


def outcome(path, model: gn.Sequential, X: np.ndarray) -> str:
    """Load ``path``: "refused" (FileFormatError naming it) or "intact" (asserted equal to ``model``)."""
    try:
        with time_limit(HANG_SECONDS):
            loaded = load_model(path)
    except FileFormatError as exc:
        assert str(exc).startswith(f"{path}: "), exc
        return "refused"
    assert loaded.describe() == model.describe()
    assert [layer.config() for layer in loaded.layers] == [layer.config() for layer in model.layers]
    assert loaded.dtype == model.dtype
    assert loaded.params().keys() == model.params().keys()
    for name, value in model.params().items():
        assert loaded.params()[name].tobytes() == value.tobytes(), name
    assert loaded.meta == model.meta
    assert np.array_equal(loaded(X), model(X))
    return "intact"


def apply(data: bytes, ops: list[tuple]) -> bytes:
    """Apply damage operations in turn; positions wrap around the current length."""
    buf = bytearray(data)
    for op in ops:
        if not buf:
            break
        kind, pos = op[0], op[1] % len(buf)
        if kind == "flip":
            buf[pos] ^= op[2]
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = op[2]
        elif kind == "delete":
            del buf[pos : pos + op[2]]
    return bytes(buf)


positions = st.integers(0, 2**31)
damage = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), positions, st.integers(1, 255)),
        st.tuples(st.just("truncate"), positions),
        st.tuples(st.just("insert"), positions, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), positions, st.integers(1, 16)),
    ),
    min_size=1,
    max_size=4,
)


def report(capsys, what: str, counts: Counter) -> None:
    with capsys.disabled():
        print(
            f"\n[serialize fuzz] {what}: {sum(counts.values())} files, "
            f"{counts['refused']} refused with FileFormatError, {counts['intact']} loaded intact"
        )


def test_randomly_damaged_files_load_exactly_or_are_refused(original, tmp_path_factory, capsys):
    model, data, X = original
    path = tmp_path_factory.mktemp("fuzz-bytes") / "damaged.npz"
    counts: Counter = Counter()

    @settings(max_examples=N_BYTE_FUZZ, **FUZZ_SETTINGS)
    @given(ops=damage)
    def run(ops):
        path.write_bytes(apply(data, ops))
        counts[outcome(path, model, X)] += 1

    run()
    report(capsys, "random byte damage", counts)
    assert sum(counts.values()) >= N_BYTE_FUZZ
    assert counts["refused"] > 0


def test_every_single_byte_flip_and_every_truncation(original, tmp_path):
    """Exhaustive and deterministic: flip each byte (xor 0xFF) and cut the file at each length."""
    model, data, X = original
    path = tmp_path / "damaged.npz"
    meaningful = member_data_offsets(data)
    counts: Counter = Counter()
    for pos in range(len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0xFF
        path.write_bytes(bytes(damaged))
        result = outcome(path, model, X)
        # every byte of every .npy member (headers, array data, the JSON) is protected; "intact" is
        # possible only in zip bookkeeping that zipfile does not use (timestamps, version fields, ...)
        assert result == "refused" or pos not in meaningful, pos
        counts[result] += 1
    for length in range(len(data)):
        path.write_bytes(data[:length])
        assert outcome(path, model, X) == "refused", length
        counts["refused"] += 1
    assert sum(counts.values()) == 2 * len(data)
    assert len(meaningful) > 0.5 * len(data)


def member_data_offsets(data: bytes) -> set[int]:
    """Offsets of the bytes that hold the members' contents (each .npy file: header and data)."""
    offsets: set[int] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            assert data[start : start + 6] == b"\x93NUMPY"
            offsets.update(range(start, start + info.file_size))
    return offsets


# ---------------------------------------------------------------------- doctored metadata
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["Dense", "Activation", "Softmax", "Dropout", "relu", "float64", "float32", "uint8", "|O"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _paths(child, prefix + (i,))


def test_doctored_metadata_is_refused_or_builds_a_working_model(original, tmp_path_factory, capsys):
    """Replace or delete one node of the JSON header (keeping the zip valid).

    Half the cases keep the stale ``meta_sha256`` (an accidental edit: it must be refused); the other
    half recompute it as a forger would, so every check behind the digest is fuzzed too.
    """
    model, data, X = original
    workdir = tmp_path_factory.mktemp("fuzz-header")
    (workdir / "original.npz").write_bytes(data)
    with np.load(workdir / "original.npz", allow_pickle=False) as npz:
        header = json.loads(npz["__meta__"].tobytes())
        arrays = {name: npz[name] for name in npz.files if name != "__meta__"}
    paths = [p for p in _paths(header) if p]
    path = workdir / "doctored.npz"
    counts: Counter = Counter()

    @settings(max_examples=N_HEADER_FUZZ, **FUZZ_SETTINGS)
    @given(where=st.sampled_from(paths), value=json_values, delete=st.booleans(), reseal=st.booleans())
    def run(where, value, delete, reseal):
        doctored = json.loads(json.dumps(header))
        parent = doctored
        for key in where[:-1]:
            parent = parent[key]
        if delete:
            del parent[where[-1]]
        else:
            parent[where[-1]] = value
        stale = doctored != header
        if reseal and isinstance(doctored.get("meta_sha256"), str):
            doctored["meta_sha256"] = sha256_of_meta(doctored)
        np.savez(path, __meta__=np.frombuffer(json.dumps(doctored).encode(), np.uint8), **arrays)
        try:
            with time_limit(HANG_SECONDS):
                loaded = load_model(path)
        except FileFormatError as exc:
            assert str(exc).startswith(f"{path}: "), exc
            counts["refused"] += 1
            return
        assert reseal or not stale, "an edited header with its old digest was loaded"
        # the change was one the format allows (another init name, dropout rate, activation, user meta ...)
        assert isinstance(loaded, gn.Sequential)
        assert loaded(X).shape == (X.shape[0], 3)
        counts["intact" if np.array_equal(loaded(X), model(X)) else "loaded changed"] += 1

    run()
    with capsys.disabled():
        print(
            f"\n[serialize fuzz] doctored metadata: {sum(counts.values())} files, {counts['refused']} refused, "
            f"{counts['intact']} loaded with the same predictions, {counts['loaded changed']} loaded a changed model"
        )
    assert sum(counts.values()) >= N_HEADER_FUZZ
    assert counts["refused"] > 0
