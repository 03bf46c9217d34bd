"""glassnet.io.safetensors: models as safetensors files, read by the reference library and read back by
glassnet's bounded reader, which refuses every lie a header can tell."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.data.preprocess import Scaler
from glassnet.errors import ConfigError, FileFormatError
from glassnet.io.safetensors import (
    load_model_safetensors,
    read_safetensors,
    save_model_safetensors,
    write_safetensors,
)
from glassnet.io.serialize import MAX_META_BYTES, sha256_of_arrays, sha256_of_meta


@pytest.fixture
def model() -> gn.Sequential:
    rng = np.random.default_rng(0)
    m = gn.mlp([5, 7, 3], "leaky_relu", dropout=0.1, rng=rng)
    m.layers[1].fn.slope = 0.2
    scaler = Scaler(pixel_max=255, standardize=True).fit(rng.integers(0, 256, size=(40, 5)))
    m.meta.update({"class_names": ["a", "b", "c"], "preprocessing": scaler.to_dict(), "test_accuracy": 0.5})
    return m


@pytest.fixture
def saved(tmp_path, model) -> Path:
    path = tmp_path / "m.safetensors"
    save_model_safetensors(path, model)
    return path


def _parts(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _write(path: Path, header: dict, data: bytes, *, n: int | None = None) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if n is None else n) + text + data)
    return path


def _reseal(header: dict) -> None:
    meta = header["__metadata__"]
    meta["meta_sha256"] = sha256_of_meta(meta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_keeps_weights_architecture_and_preprocessing(tmp_path, model, dtype):
    model = model.astype(dtype)
    save_model_safetensors(tmp_path / "m.safetensors", model)
    again = gn.load_model(tmp_path / "m.safetensors")  # the ordinary loader recognises the format
    assert again.describe() == model.describe() and again.dtype == model.dtype
    assert again.layers[1].fn.slope == 0.2
    assert again.meta == model.meta
    for name, value in model.params().items():
        np.testing.assert_array_equal(again.params()[name], value)
        assert again.params()[name].dtype == dtype


def test_the_reference_library_reads_glassnet_files(saved, model):
    st = pytest.importorskip("safetensors.numpy")
    tensors = st.load_file(str(saved))
    assert sorted(tensors) == sorted(model.params())
    for name, value in model.params().items():
        np.testing.assert_array_equal(tensors[name], value)
    from safetensors import safe_open

    with safe_open(str(saved), "np") as f:
        meta = f.metadata()
    assert json.loads(meta["architecture"])[0] == {"type": "Dense", "config": {"n_in": 5, "n_out": 7, "init": "auto"}}
    assert json.loads(meta["preprocessing"]) == model.meta["preprocessing"]
    assert meta["dtype"] == "float32"


def test_glassnet_reads_files_of_the_reference_library(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    arrays = {"w": np.arange(12, dtype=np.float64).reshape(3, 4), "i": np.array([1, -2], dtype=np.int16),
              "e": np.zeros((0, 3), dtype=np.float32)}
    st.save_file(arrays, str(tmp_path / "x.safetensors"), metadata={"k": "v"})
    got, meta = read_safetensors(tmp_path / "x.safetensors")
    assert meta == {"k": "v"}
    for name, value in arrays.items():
        np.testing.assert_array_equal(got[name], value)
        assert got[name].dtype == value.dtype and got[name].shape == value.shape


def test_a_safetensors_file_without_glassnet_metadata_is_refused_clearly(tmp_path):
    write_safetensors(tmp_path / "x.safetensors", {"0.W": np.ones((2, 2), np.float32)}, {"format": "pt"})
    with pytest.raises(FileFormatError, match=r"x\.safetensors: a safetensors file without glassnet's metadata"):
        gn.load_model(tmp_path / "x.safetensors")


def test_unregistered_activation_cannot_be_saved(tmp_path, monkeypatch):
    from glassnet.core.activations import ActivationFunction

    class Odd(ActivationFunction):
        name = "tanh"  # claims a registered name but is another class

        def forward(self, z):
            return z

    model = gn.Sequential([gn.Dense(2, 2), gn.Activation(Odd()), gn.Dense(2, 2)], rng=0)
    with pytest.raises(ConfigError, match="not registered"):
        save_model_safetensors(tmp_path / "m.safetensors", model)
    assert not (tmp_path / "m.safetensors").exists()


# ------------------------------------------------------------------ the bounded reader
def test_header_length_over_the_limit(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", MAX_META_BYTES + 1) + b"{}")
    with pytest.raises(FileFormatError, match="over the limit"):
        read_safetensors(path)


def test_header_length_beyond_the_file(saved):
    header, data = _parts(saved)
    _write(saved, header, data, n=len(json.dumps(header)) + len(data) + 1)
    with pytest.raises(FileFormatError, match="the header claims .* bytes but the file has only"):
        read_safetensors(saved)


@pytest.mark.parametrize("cut", [3, 100, -1])
def test_truncated_files(saved, cut):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:cut])
    with pytest.raises(FileFormatError, match=r"m\.safetensors: "):
        read_safetensors(saved)


def test_trailing_bytes_after_the_tensors(saved):
    saved.write_bytes(saved.read_bytes() + b"\0" * 8)
    with pytest.raises(FileFormatError, match="the tensors cover .* bytes but the file holds"):
        read_safetensors(saved)


def test_a_shape_bigger_than_its_bytes_is_refused_before_allocating(saved):
    header, data = _parts(saved)
    header["0.W"]["shape"] = [10**9, 10**9]
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match="needs .* bytes, data_offsets span"):
        read_safetensors(saved)


def test_offsets_outside_the_data(saved):
    header, data = _parts(saved)
    header["0.W"]["data_offsets"] = [0, len(data) + 4]
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match="not a range inside"):
        read_safetensors(saved)


def test_overlapping_tensors(saved):
    header, data = _parts(saved)
    first = min((e for k, e in header.items() if k != "__metadata__"), key=lambda e: e["data_offsets"][0])
    second = sorted((e for k, e in header.items() if k != "__metadata__"), key=lambda e: e["data_offsets"][0])[1]
    size = second["data_offsets"][1] - second["data_offsets"][0]
    second["data_offsets"] = [first["data_offsets"][0], first["data_offsets"][0] + size]
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match="a gap or an overlap"):
        read_safetensors(saved)


@pytest.mark.parametrize("edit, message", [
    (lambda e: e.update(dtype="F8_E4M3"), "dtype 'F8_E4M3' is not one of"),
    (lambda e: e.update(shape=[-1, 7]), "shape must be a list of non-negative integers"),
    (lambda e: e.update(shape=[5.0, 7]), "shape must be a list of non-negative integers"),
    (lambda e: e.update(data_offsets=[0]), "data_offsets"),
    (lambda e: e.update(extra=1), "exactly the keys"),
])
def test_bad_tensor_entries(saved, edit, message):
    header, data = _parts(saved)
    edit(header["0.W"])
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match=message):
        read_safetensors(saved)


@pytest.mark.parametrize("text, message", [
    (b'{"a": NaN}', "not valid JSON"),
    (b'{"a": 1, "a": 2}', "repeats the key"),
    (b"[1, 2]", "expected an object"),
    (b'{"__metadata__": {"k": 1}}', "__metadata__ must be an object of strings"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_bad_header_json(tmp_path, text, message):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(FileFormatError, match=message):
        read_safetensors(path)


def test_changed_weight_fails_the_digest(saved):
    raw = bytearray(saved.read_bytes())
    raw[-1] ^= 0x01
    saved.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="sha256 mismatch: the tensors"):
        gn.load_model(saved)


def test_edited_architecture_fails_the_metadata_digest(saved):
    header, data = _parts(saved)
    layers = json.loads(header["__metadata__"]["architecture"])
    layers[1]["config"]["fn"] = "tanh"
    header["__metadata__"]["architecture"] = json.dumps(layers)
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match="meta_sha256 mismatch"):
        gn.load_model(saved)


def test_nan_weight_is_refused_even_with_resealed_digests(saved):
    header, data = _parts(saved)
    arrays, _ = read_safetensors(saved)
    arrays["0.W"][0, 0] = np.nan
    header["__metadata__"]["sha256"] = sha256_of_arrays(arrays)
    _reseal(header)
    offsets = header["0.W"]["data_offsets"]
    data = data[: offsets[0]] + arrays["0.W"].tobytes() + data[offsets[1] :]
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match="tensor '0.W' holds NaN or infinity"):
        gn.load_model(saved)


def test_resealed_architecture_that_does_not_fit_the_weights(saved):
    header, data = _parts(saved)
    layers = json.loads(header["__metadata__"]["architecture"])
    layers[0]["config"]["n_out"] = 9
    header["__metadata__"]["architecture"] = json.dumps(layers)
    _reseal(header)
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match=r"parameter '0.W' has shape \(5, 7\), but layer 0 is Dense\(5->9\)"):
        load_model_safetensors(saved)


def test_resealed_unknown_metadata_key(saved):
    header, data = _parts(saved)
    header["__metadata__"]["surprise"] = "1"
    _reseal(header)
    _write(saved, header, data)
    with pytest.raises(FileFormatError, match="exactly the keys"):
        load_model_safetensors(saved)
