"""Saved models and array archives: exact round trips, atomic writes, and files that are refused."""

from __future__ import annotations

import hashlib
import io
import json
import re
import os
import pickle
import stat
import struct
import zipfile

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError, FileFormatError
from glassnet.nn.layers import Activation, Dense, Dropout, Softmax
from glassnet.io.serialize import (
    FORMAT_VERSION,
    MODEL_FORMAT,
    atomic_open,
    atomic_write,
    atomic_write_text,
    load_arrays,
    load_model,
    save_arrays,
    save_model,
    sha256_of_arrays,
    sha256_of_meta,
)

#: non-default constructor arguments for every activation that takes any, so the round trip proves they are saved.
NON_DEFAULT_ARGS = {
    "leaky_relu": {"slope": 0.2},
    "elu": {"alpha": 0.5},
    "swish": {"beta": 1.75},
    "hard_tanh": {"min_val": -2.0, "max_val": 0.5},
}


def features(n_in: int, dtype=np.float32, n: int = 16) -> np.ndarray:
    return (np.random.default_rng(123).standard_normal((n, n_in)) * 3).astype(dtype)


def read_raw(path) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON header and the arrays of a file, read with numpy only (no glassnet checks)."""
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(npz["__meta__"].tobytes())
        arrays = {name: npz[name] for name in npz.files if name != "__meta__"}
    return header, arrays


def write_raw(path, meta: bytes | dict, arrays: dict[str, np.ndarray], *, reseal: bool = True) -> None:
    """Write an npz exactly as given (meta as JSON or raw bytes), as np.savez does.

    ``reseal`` recomputes a well-formed ``meta_sha256`` of an edited header, as a forger would, so the
    checks behind the metadata digest are reached; ``reseal=False`` keeps the stale digest.
    """
    if isinstance(meta, dict):
        if reseal and re.fullmatch(r"[0-9a-f]{64}", str(meta.get("meta_sha256", ""))):
            meta = {**meta, "meta_sha256": sha256_of_meta(meta)}
        meta = json.dumps(meta).encode()
    np.savez(path, __meta__=np.frombuffer(meta, dtype=np.uint8), **arrays)


def refused(path) -> str:
    """Load ``path``, expect FileFormatError naming it, and return the message."""
    with pytest.raises(FileFormatError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message


@pytest.fixture
def model():
    net = gn.mlp([5, 7, 6, 3], "tanh", dropout=0.25, rng=3)
    net.meta = {"class_names": ["cat", "dog", "emu"]}
    return net


@pytest.fixture
def saved(tmp_path, model):
    path = tmp_path / "model.npz"
    save_model(path, model)
    return path


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(gn.ACTIVATIONS))
@pytest.mark.parametrize("head", ["logits", "dropout+softmax"])
def test_round_trip_is_bit_identical(tmp_path, name, dtype, head):
    act = gn.get_activation(name, **NON_DEFAULT_ARGS.get(name, {}))
    if head == "logits":
        model = gn.mlp([5, 8, 6, 3], act, rng=7, dtype=dtype)
    else:
        model = gn.mlp([5, 8, 6, 3], act, dropout=0.3, output="softmax", rng=7, dtype=dtype)
    # biases are zero after initialisation; make them count
    for key, value in model.params().items():
        if key.endswith(".b"):
            value[...] = np.linspace(-0.5, 0.5, value.size, dtype=dtype)
    path = tmp_path / f"{name}.npz"
    save_model(path, model)
    loaded = load_model(path)

    assert loaded.dtype == np.dtype(dtype)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.config() for layer in loaded.layers] == [layer.config() for layer in model.layers]
    acts = [layer.fn for layer in loaded.layers if isinstance(layer, Activation)]
    assert acts and all(fn == act and type(fn) is type(act) for fn in acts)
    assert loaded.params().keys() == model.params().keys()
    for key, value in model.params().items():
        assert loaded.params()[key].dtype == value.dtype
        assert loaded.params()[key].tobytes() == value.tobytes(), key
    X = features(5, dtype)
    assert np.array_equal(loaded(X), model(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # the dropout rate came back too: the same rng gives the same training-mode output
    out_a = model.forward(X, training=True, rng=np.random.default_rng(5))[0]
    out_b = loaded.forward(X, training=True, rng=np.random.default_rng(5))[0]
    assert np.array_equal(out_a, out_b)


def test_every_activation_with_arguments_is_exercised_with_non_default_values():
    with_args = {name for name, cls in gn.ACTIVATIONS.items() if cls().config()}
    assert with_args == set(NON_DEFAULT_ARGS)
    for name, kwargs in NON_DEFAULT_ARGS.items():
        assert gn.get_activation(name, **kwargs) != gn.get_activation(name)


def test_hand_built_model_with_explicit_layers(tmp_path):
    model = gn.Sequential(
        [Dense(3, 4, init="he_uniform"), Activation("leaky_relu", slope=0.3), Dropout(0.1), Dense(4, 2), Softmax()],
        rng=0,
        dtype=np.float64,
    )
    save_model(tmp_path / "m.npz", model)
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.describe() == "Dense(3->4) -> Activation(leaky_relu) -> Dropout(0.1) -> Dense(4->2) -> Softmax"
    assert loaded.layers[0].init == "he_uniform"
    assert loaded.layers[1].fn.slope == 0.3
    assert loaded.output_kind == "probs"
    X = features(3, np.float64)
    assert np.array_equal(loaded(X), model(X))


def test_numpy_reads_the_file_without_glassnet(saved, model):
    header, arrays = read_raw(saved)
    assert header["format"] == MODEL_FORMAT and header["format_version"] == FORMAT_VERSION
    assert header["glassnet_version"] == gn.__version__
    assert header["dtype"] == "float32"
    assert [spec["type"] for spec in header["layers"]] == ["Dense", "Activation", "Dropout"] * 2 + ["Dense"]
    assert header["layers"][1]["config"] == {"fn": "tanh"}
    assert header["arrays"]["0.W"] == {"shape": [5, 7], "dtype": "float32"}
    assert header["sha256"] == sha256_of_arrays(model.params())
    assert set(arrays) == set(model.params())
    assert np.array_equal(arrays["3.W"], model.params()["3.W"])


# ---------------------------------------------------------------------- metadata
def test_meta_round_trip(tmp_path, model):
    model.meta = {
        "class_names": ["café", "猫", "dog"],
        "preprocess": {"mean": np.array([0.5, -1.25], dtype=np.float32), "std": [1.0, 2.0], "n": np.int64(60000)},
        "train": {"lr": 0.1, "epochs": 3, "nesterov": True, "schedule": None},
        "metrics": {"accuracy": np.float64(0.9731)},
    }
    save_model(tmp_path / "m.npz", model, meta={"metrics": {"accuracy": 0.98}, "note": "best"})
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.meta == {
        "class_names": ["café", "猫", "dog"],
        "preprocess": {"mean": [0.5, -1.25], "std": [1.0, 2.0], "n": 60000},
        "train": {"lr": 0.1, "epochs": 3, "nesterov": True, "schedule": None},
        "metrics": {"accuracy": 0.98},  # the meta argument wins over model.meta
        "note": "best",
    }
    assert "note" not in model.meta  # saving does not change the model


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"loss": float("nan")}, "meta['meta']['loss'] is nan"),
        ({"h": [1.0, np.float32(np.inf)]}, "meta['meta']['h'][1] is inf"),
        ({"f": print}, "meta['meta']['f'] is a builtin_function_or_method"),
        ({1: "x"}, "has the key 1"),
        ({"s": {1, 2}}, "is a set"),
    ],
)
def test_unstorable_meta_is_refused_before_writing(tmp_path, model, bad, where):
    path = tmp_path / "m.npz"
    with pytest.raises(ConfigError, match="meta") as info:
        save_model(path, model, meta=bad)
    assert where in str(info.value)
    assert os.listdir(tmp_path) == []


def test_unregistered_layer_or_activation_cannot_be_saved(tmp_path):
    class Scaled(Dense):
        pass

    class MyReLU(gn.core.activations.ReLU):  # same name "relu", different class: would load as the wrong function
        pass

    for layers, match in (
        ([Scaled(2, 3)], "Scaled, which is not registered"),
        ([Dense(2, 3), Activation(MyReLU())], "activation MyReLU"),
    ):
        with pytest.raises(ConfigError, match=match):
            save_model(tmp_path / "m.npz", gn.Sequential(layers, rng=0))
    with pytest.raises(ConfigError, match="Sequential"):
        save_model(tmp_path / "m.npz", Dense(2, 3))
    with pytest.raises(ConfigError, match="meta must be a dict"):
        save_model(tmp_path / "m.npz", gn.Sequential([Dense(2, 3)], rng=0), meta=["x"])
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- atomic writes
def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old contents")

    def half_then_fail(f):
        f.write(b"new con")
        f.flush()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["data.bin"]  # the temporary file is gone

    atomic_write(path, lambda f: f.write(b"new contents"))
    assert path.read_bytes() == b"new contents"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_failed_replace_leaves_old_model_and_no_temp_file(tmp_path, saved, monkeypatch):
    before = saved.read_bytes()
    other = gn.mlp([5, 4, 3], rng=99)

    def broken_replace(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated crash"):
        save_model(saved, other)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]
    assert load_model(saved).n_params() == gn.mlp([5, 7, 6, 3], rng=0).n_params()


def test_atomic_open_text_mode_and_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "report.txt"
    with atomic_open(path, "w") as f:
        f.write("accuracy: 0.97 ✓\n")
        assert not path.exists()  # nothing is visible before the block ends
    assert path.read_text(encoding="utf-8") == "accuracy: 0.97 ✓\n"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    atomic_write_text(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    assert os.listdir(tmp_path) == ["report.txt"]
    with pytest.raises(ConfigError, match="mode"):
        with atomic_open(path, "a"):
            pass


def test_save_model_overwrites_exactly_the_given_path(tmp_path, model):
    path = tmp_path / "model.bin"  # no .npz suffix is added
    save_model(path, model)
    save_model(path, model)
    assert os.listdir(tmp_path) == ["model.bin"]
    assert load_model(path).meta == model.meta


# ---------------------------------------------------------------------- refused files
def test_newer_format_version_is_refused_with_a_clear_message(tmp_path, saved):
    header, arrays = read_raw(saved)
    header["format_version"] = FORMAT_VERSION + 1
    write_raw(saved, header, arrays)
    assert refused(saved) == (f"{saved}: made by a newer glassnet (format version {FORMAT_VERSION + 1}); "
                              f"this glassnet reads version {FORMAT_VERSION}")


def test_older_format_version_is_refused_with_a_clear_message(saved):
    header, arrays = read_raw(saved)
    header["format_version"] = 1  # before the metadata had a digest of its own
    del header["meta_sha256"]
    write_raw(saved, header, arrays)
    assert refused(saved) == f"{saved}: format version 1 is no longer supported; this glassnet reads version 2"


@pytest.mark.parametrize("edit", [
    lambda h: h["layers"][1]["config"].update(fn="relu"),  # another activation (the model has tanh)
    lambda h: h.update(dtype="float64"),
    lambda h: h["meta"].update(class_names=["x", "y", "z"]),
    lambda h: h.update(glassnet_version="9.9.9"),
])
def test_edited_metadata_fails_its_digest(saved, edit):
    """Any edit of the JSON header that leaves the arrays alone is caught by meta_sha256."""
    header, arrays = read_raw(saved)
    edit(header)
    write_raw(saved, header, arrays, reseal=False)
    assert refused(saved) == (f"{saved}: meta_sha256 mismatch: the metadata is not what was saved "
                              "(the file was edited or damaged)")


def test_meta_sha256_matches_its_documented_definition(saved):
    header, _ = read_raw(saved)
    body = {k: v for k, v in header.items() if k != "meta_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    assert header["meta_sha256"] == hashlib.sha256(text.encode("ascii")).hexdigest() == sha256_of_meta(header)


def test_tampered_array_bytes_fail_the_sha256(tmp_path, saved):
    header, arrays = read_raw(saved)
    arrays["3.W"] = arrays["3.W"].copy()
    arrays["3.W"].reshape(-1)[4] = np.nextafter(arrays["3.W"].reshape(-1)[4], np.float32(np.inf))
    write_raw(saved, header, arrays)  # consistent zip (fresh CRCs), stale digest
    assert "sha256 mismatch" in refused(saved)


def test_flipped_byte_inside_the_data_is_caught(saved):
    raw = bytearray(saved.read_bytes())
    raw[raw.index(b"PK\x03\x04", 10) - 5] ^= 0x10  # last bytes of the first array member
    saved.write_bytes(bytes(raw))
    refused(saved)


@pytest.mark.parametrize("keep", [0, 1, 3, 4, 30, 200, 0.5, 0.9, -22, -1])
def test_truncated_file_is_refused(saved, keep):
    raw = saved.read_bytes()
    n = int(len(raw) * keep) if isinstance(keep, float) else keep % len(raw)
    saved.write_bytes(raw[:n])
    message = refused(saved)
    if n == 0:
        assert "empty" in message


def test_files_that_are_not_glassnet_archives(tmp_path):
    cases = {
        "empty.npz": (b"", "the file is empty"),
        "text.npz": (b"hello, world", "not a glassnet file"),
        "gzip.npz": (b"\x1f\x8b\x08\x00rest", "not a glassnet file"),
    }
    buf = io.BytesIO()
    np.save(buf, np.arange(3.0))
    cases["array.npy"] = (buf.getvalue(), "a single .npy array")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("readme.txt", "hi")
    cases["other.zip"] = (buf.getvalue(), "unexpected member 'readme.txt'")
    buf = io.BytesIO()
    np.savez(buf, x=np.arange(3.0))
    cases["plain.npz"] = (buf.getvalue(), "no __meta__ member")
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.zeros(3, np.uint8))
    cases["compressed.npz"] = (buf.getvalue(), "is compressed")
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert expected in refused(path), name


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.npz")


# A pickle whose loading creates a marker file: the proof that a loader executed it.
class Trap:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _object_array(marker) -> np.ndarray:
    arr = np.empty(1, dtype=object)
    arr[0] = Trap(marker)
    return arr


@pytest.mark.parametrize("where", ["parameter", "extra member", "metadata", "whole file", "npy file"])
def test_pickled_objects_are_refused_without_being_executed(tmp_path, saved, where):
    marker = tmp_path / "PWNED"
    header, arrays = read_raw(saved)
    path = tmp_path / "evil.npz"
    if where == "parameter":
        arrays["0.b"] = _object_array(marker)
        np.savez(path, __meta__=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    elif where == "extra member":
        np.savez(path, __meta__=np.frombuffer(json.dumps(header).encode(), np.uint8), evil=_object_array(marker), **arrays)
    elif where == "metadata":
        np.savez(path, __meta__=_object_array(marker), **arrays)
    elif where == "whole file":
        path.write_bytes(pickle.dumps(Trap(marker)))
    else:
        np.save(path.with_suffix(".npy"), _object_array(marker))
        path = path.with_suffix(".npy")
    refused(path)
    assert not marker.exists()

    # the trap is real: a loader that allows pickles runs it
    if where == "whole file":
        with open(path, "rb") as f:
            pickle.load(f).close()
    else:
        loaded = np.load(path, allow_pickle=True)
        members = [loaded[name] for name in loaded.files] if isinstance(loaded, np.lib.npyio.NpzFile) else [loaded]
        for array in members:
            if array.dtype == object:
                array[0].close()  # the file object the trap opened
        if isinstance(loaded, np.lib.npyio.NpzFile):
            loaded.close()
    assert marker.exists()


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda h, a: h.pop("format"), "names no format"),
        (lambda h, a: h.update(format="glassnet-checkpoint"), "is a 'glassnet-checkpoint' file, expected a 'glassnet-model'"),
        (lambda h, a: h.update(format_version="1"), "format_version must be a positive integer, got '1'"),
        (lambda h, a: h.update(format_version=True), "format_version must be a positive integer, got True"),
        (lambda h, a: h.update(format_version=1.0), "format_version must be a positive integer"),
        (lambda h, a: h.update(format_version=0), "format_version must be a positive integer"),
        (lambda h, a: h.pop("glassnet_version"), "glassnet_version must be a string"),
        (lambda h, a: h.update(sha256="abc"), "sha256 must be 64 lowercase hex digits"),
        (lambda h, a: h.update(arrays=[]), "'arrays' must be an object"),
        (lambda h, a: h["arrays"].pop("0.b"), "present but not listed: ['0.b']"),
        (lambda h, a: a.pop("0.b"), "listed in the metadata but absent: ['0.b']"),
        (lambda h, a: h["arrays"]["0.W"].update(shape=[7, 5]), "has shape (5, 7) in the file but (7, 5)"),
        (lambda h, a: h["arrays"]["0.W"].update(shape=[5, -7]), "non-negative integers"),
        (lambda h, a: h["arrays"]["0.W"].update(shape="5,7"), "non-negative integers"),
        (lambda h, a: h["arrays"]["0.W"].update(dtype="float64"), "has dtype float32 in the file but float64"),
        (lambda h, a: h["arrays"]["0.W"].update(dtype="object"), "dtype must be one of"),
        (lambda h, a: h["arrays"]["0.W"].update(extra=1), "metadata entry must be"),
        (lambda h, a: h.update(dtype="float16"), "model dtype must be 'float32' or 'float64'"),
        (lambda h, a: h.update(layers={}), "'layers' must be a non-empty list"),
        (lambda h, a: h.update(layers=[]), "'layers' must be a non-empty list"),
        (lambda h, a: h.update(meta=[1]), "'meta' must be an object"),
        (lambda h, a: h["layers"].__setitem__(1, ["Activation"]), "layer 1: expected"),
        (lambda h, a: h["layers"][1].update(type="Conv2D"), "unknown layer type 'Conv2D'"),
        (lambda h, a: h["layers"][1].update(config={"fn": "swish", "beta": "big"}), "layer 1 (Activation) cannot be rebuilt"),
        (lambda h, a: h["layers"][1].update(config={"fn": "leaky_relu", "slope": 10**400}), "layer 1 (Activation) cannot be rebuilt"),
        (lambda h, a: h["layers"][1].update(config={}), "layer 1 (Activation) cannot be rebuilt"),
        (lambda h, a: h["layers"][0]["config"].update(n_in="5"), "layer 0 (Dense) cannot be rebuilt"),
        (lambda h, a: h["layers"][0]["config"].update(bias=False), "layer 0 (Dense) cannot be rebuilt"),
        (lambda h, a: h["layers"][2]["config"].update(rate=1.5), "layer 2 (Dropout) cannot be rebuilt"),
        (lambda h, a: h["layers"][0]["config"].update(n_out=10**6), "parameter '0.W' has shape (5, 7), but layer 0 is Dense(5->1000000)"),
        (lambda h, a: h["layers"].insert(0, {"type": "Dense", "config": {"n_in": 5, "n_out": 5, "init": "auto"}}),
         "parameter '0.W' has shape (5, 7), but layer 0 is Dense(5->5)"),
        (lambda h, a: h["layers"].pop(), "do not match the layers"),
        (lambda h, a: h["layers"].append({"type": "Dense", "config": {"n_in": 3, "n_out": 10**9, "init": "auto"}}),
         "parameter '7.W' of layer 7 (Dense(3->1000000000)) is not in the file"),
        (lambda h, a: (h["layers"][3]["config"].update(n_in=8), h["arrays"]["3.W"].update(shape=[8, 6]),
                       a.update({"3.W": np.zeros((8, 6), np.float32)})),
         "do not form a consistent model"),
        (lambda h, a: (h["arrays"]["0.b"].update(dtype="float64"), a.update({"0.b": a["0.b"].astype(np.float64)})),
         "parameter '0.b' is float64 but the model is float32"),
        (lambda h, a: (h["arrays"].update({"weird": {"shape": [1], "dtype": "float32"}}),
                       a.update(weird=np.zeros(1, np.float32))),
         "the parameters"),
    ],
)
def test_inconsistent_metadata_is_refused(saved, edit, expected):
    header, arrays = read_raw(saved)
    digest = header["sha256"]
    edit(header, arrays)
    if header.get("sha256") == digest:  # a valid digest, so the deeper checks are reached
        header["sha256"] = sha256_of_arrays(arrays)
    write_raw(saved, header, arrays)
    assert expected in refused(saved)


@pytest.mark.parametrize(
    "meta_bytes, expected",
    [
        (b"{not json", "not valid JSON"),
        (b'{"format": NaN}', "NaN"),
        (b'{"format": "glassnet-model", "format": "x"}', "repeats the key 'format'"),
        (b"[1, 2, 3]", "is a JSON list, expected an object"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 50000 + b"]" * 50000, "nested deeper than 32 levels"),
        (b"{\"a\": " + b"[" * 40 + b"]" * 40 + b"}", "nested 41 levels deep"),
        (b"", "not valid JSON"),
    ],
    ids=["broken", "nan", "duplicate-key", "list", "not-utf8", "deep-nesting", "nesting-over-limit", "empty"],
)
def test_garbage_metadata_is_refused(saved, meta_bytes, expected):
    _, arrays = read_raw(saved)
    write_raw(saved, meta_bytes, arrays)
    assert expected in refused(saved)


# ---------------------------------------------------------------------- generic archives
def test_save_and_load_arrays_round_trip(tmp_path):
    arrays = {
        "weights": np.arange(12, dtype=np.float64).reshape(3, 4),
        "counts": np.array([1, 2, 3], dtype=np.int64),
        "mask": np.array([True, False]),
        "bytes": np.array([0, 255], dtype=np.uint8),
        "step": np.array(7, dtype=np.int32),  # a 0-d array
        "empty": np.zeros((0, 3), dtype=np.float32),
        "file": np.ones(2, np.float16),  # would collide with np.savez's own argument name
        "big_endian": np.arange(4, dtype=">f4"),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "opt/m/0.W": np.full((2, 2), 0.25),  # "/"-separated names, as checkpoints use
    }
    meta = {"epoch": 3, "rng_state": {"state": 2**100 + 1, "inc": 5}, "history": [{"loss": 0.5}]}
    path = tmp_path / "ckpt.npz"
    save_arrays(path, arrays, meta, kind="glassnet-checkpoint")
    loaded, loaded_meta = load_arrays(path, kind="glassnet-checkpoint")
    assert loaded_meta == meta
    assert set(loaded) == set(arrays)
    for name, value in arrays.items():
        assert loaded[name].shape == value.shape, name
        assert loaded[name].dtype == value.dtype.newbyteorder("<"), name
        assert np.array_equal(loaded[name], value), name
        assert loaded[name].flags.writeable and loaded[name].flags.c_contiguous
    assert "is a 'glassnet-checkpoint' file, expected a 'glassnet-model' file" in refused(path)


def test_load_arrays_respects_the_version_it_is_given(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_arrays(path, {"x": np.ones(2)}, {}, kind="k", version=3)
    assert load_arrays(path, "k", version=3)[1] == {}
    with pytest.raises(FileFormatError, match=r"newer glassnet \(format version 3\); this glassnet reads version 2"):
        load_arrays(path, "k", version=2)
    with pytest.raises(FileFormatError, match="format version 3 is no longer supported"):
        load_arrays(path, "k", version=4)


@pytest.mark.parametrize(
    "arrays, meta, kind, match",
    [
        ({"/abs": np.ones(1)}, {}, "k", "array name '/abs' is not allowed"),
        ({"a//b": np.ones(1)}, {}, "k", "is not allowed"),
        ({"../x": np.ones(1)}, {}, "k", "is not allowed"),
        ({"a/": np.ones(1)}, {}, "k", "is not allowed"),
        ({"a\\b": np.ones(1)}, {}, "k", "is not allowed"),
        ({"a b": np.ones(1)}, {}, "k", "is not allowed"),
        ({"__meta__": np.ones(1)}, {}, "k", "is not allowed"),
        ({"": np.ones(1)}, {}, "k", "is not allowed"),
        ({"x": np.array([object()])}, {}, "k", "never objects"),
        ({"x": np.array(["text"])}, {}, "k", "dtype <U4"),
        ({"x": np.ones(2, dtype=np.complex128)}, {}, "k", "complex128"),
        ({"x": np.ones(1)}, {"sha256": "mine"}, "k", "reserved key"),
        ({"x": np.ones(1)}, [1], "k", "meta must be a dict"),
        ({"x": np.ones(1)}, {}, "", "kind must be a non-empty string"),
    ],
)
def test_save_arrays_refuses_what_it_cannot_store(tmp_path, arrays, meta, kind, match):
    with pytest.raises(ConfigError, match=match):
        save_arrays(tmp_path / "x.npz", arrays, meta, kind)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- the digest
def test_sha256_matches_its_documented_definition():
    arrays = {"b": np.array([1.5, -2.0], dtype=np.float32), "a": np.arange(6, dtype=np.int64).reshape(2, 3)}
    h = hashlib.sha256()
    for name, dtype_str, shape, data in (
        ("a", b"<i8", b"2,3", np.arange(6, dtype="<i8").tobytes()),
        ("b", b"<f4", b"2", np.array([1.5, -2.0], dtype="<f4").tobytes()),
    ):
        for field in (name.encode(), dtype_str, shape, data):
            h.update(struct.pack("<Q", len(field)) + field)
    assert sha256_of_arrays(arrays) == h.hexdigest()
    # a scalar's shape is the empty string
    h = hashlib.sha256()
    for field in (b"s", b"<f8", b"", np.float64(2.5).tobytes()):
        h.update(struct.pack("<Q", len(field)) + field)
    assert sha256_of_arrays({"s": np.array(2.5)}) == h.hexdigest()


def test_sha256_sees_values_names_dtypes_and_shapes_but_not_layout():
    base = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, np.float32)}
    digest = sha256_of_arrays(base)
    assert sha256_of_arrays(dict(reversed(base.items()))) == digest
    assert sha256_of_arrays({"w": base["w"].astype(">f4"), "b": base["b"]}) == digest
    assert sha256_of_arrays({"w": np.asfortranarray(base["w"]), "b": base["b"]}) == digest
    variants = [
        {"w": base["w"] + np.float32(1e-6) * (np.arange(6).reshape(2, 3) == 5), "b": base["b"]},
        {"W": base["w"], "b": base["b"]},
        {"w": base["w"].astype(np.float64), "b": base["b"]},
        {"w": base["w"].reshape(3, 2), "b": base["b"]},
        {"w": base["w"]},
    ]
    assert len({digest, *(sha256_of_arrays(v) for v in variants)}) == 1 + len(variants)
