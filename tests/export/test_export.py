"""glassnet.export: ONNX (run in ONNX Runtime on the 10,000 real MNIST test images), PyTorch state_dict,
and the ``glassnet export`` command.  safetensors has its own file, tests/io/test_safetensors.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.main import main
from glassnet.core.activations import ACTIVATIONS, ActivationFunction
from glassnet.data.idx import read_idx
from glassnet.data.preprocess import Scaler
from glassnet.errors import ConfigError
from glassnet.export import EXPORTERS
from glassnet.nn.layers import Activation, Dense, Layer

onnx = pytest.importorskip("onnx")
from glassnet.export.onnx import ONNX_ACTIVATIONS, export_onnx, to_onnx  # noqa: E402
from paths import SHARED_MNIST


#: non-default arguments, so a translation that ignored them would fail
NON_DEFAULT = {"leaky_relu": {"slope": 0.2}, "elu": {"alpha": 0.6}, "swish": {"beta": 1.7},
               "hard_tanh": {"min_val": -0.5, "max_val": 2.0}}


def _ort():
    return pytest.importorskip("onnxruntime", reason="onnxruntime (Python 3.11 or newer) runs the exported graph")


def _run(path: Path, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ort = _ort()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs, label = session.run(None, {"features": X})
    return probs, label


@pytest.fixture(scope="module")
def mnist():
    for folder in SHARED_MNIST:
        images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
        if images.is_file() and labels.is_file():
            return read_idx(images).reshape(10000, -1), read_idx(labels)
    pytest.skip("the MNIST test files of shared/data/mnist are not on this machine")


def _trained(activation: ActivationFunction, X_raw: np.ndarray, y: np.ndarray) -> gn.Sequential:
    """784-32-16-10 with this activation, two epochs on the first 5,000 images, standardised pixels."""
    rng = np.random.default_rng(0)
    scaler = Scaler(pixel_max=255, standardize=True).fit(X_raw[:5000])
    model = gn.mlp([784, 32, 16, 10], activation, rng=rng)
    gn.fit(model, scaler.transform(X_raw[:5000]), y[:5000], optimizer=gn.SGD(lr=0.05, momentum=0.9), epochs=2,
           batch_size=64, validation_split=0.0, rng=rng)
    model.meta["preprocessing"] = scaler.to_dict()
    return model


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_onnx_runtime_matches_glassnet_on_10000_mnist_images(tmp_path, mnist, name):
    X_raw, y = mnist
    if name not in ONNX_ACTIVATIONS:
        with pytest.raises(ConfigError, match=f"Activation\\({name}\\).*no ONNX translation"):
            to_onnx(gn.mlp([784, 8, 10], name, rng=0))
        return
    model = _trained(gn.get_activation(name, **NON_DEFAULT.get(name, {})), X_raw, y)
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    ours = model.predict_proba(Scaler.from_dict(model.meta["preprocessing"]).transform(X_raw))
    probs, label = _run(path, X_raw.astype(np.float32))  # raw pixels: the scaling is inside the graph
    assert probs.shape == (10000, 10) and label.shape == (10000,)
    assert np.array_equal(label, ours.argmax(axis=1)), f"{np.sum(label != ours.argmax(axis=1))} images differ"
    np.testing.assert_allclose(probs, ours, rtol=0, atol=1e-5)
    assert (label == y).mean() > 0.7  # a trained model, not a near-uniform one whose argmax is a coin toss


def test_every_activation_with_arguments_is_exported_with_non_default_values():
    for name, cls in ACTIVATIONS.items():
        if cls().config():
            assert name in NON_DEFAULT, f"add non-default arguments for {name} to NON_DEFAULT"


@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("log_softmax", "nll")])
def test_onnx_probability_outputs(tmp_path, output, loss):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    model = gn.mlp([6, 12, 4], "tanh", output=output, rng=rng)
    export_onnx(model, tmp_path / "m.onnx")
    probs, label = _run(tmp_path / "m.onnx", X)
    np.testing.assert_allclose(probs, model.predict_proba(X), atol=1e-6)
    assert np.array_equal(label, model.predict(X))


def test_onnx_single_logit_gives_two_class_probabilities(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    model = gn.mlp([5, 7, 1], "relu", rng=rng)
    export_onnx(model, tmp_path / "m.onnx")
    probs, label = _run(tmp_path / "m.onnx", X)
    assert probs.shape == (300, 2)
    np.testing.assert_allclose(probs, model.predict_proba(X), atol=1e-6)
    assert np.array_equal(label, model.predict(X))


def test_onnx_float64_model_with_pixel_scaling(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(100, 9)).astype(np.float64)
    model = gn.mlp([9, 5, 3], "sigmoid", rng=rng, dtype=np.float64)
    scaler = Scaler(pixel_max=255).fit(X)
    model.meta["preprocessing"] = scaler.to_dict()
    export_onnx(model, tmp_path / "m.onnx")
    probs, _ = _run(tmp_path / "m.onnx", X)
    assert probs.dtype == np.float64
    np.testing.assert_allclose(probs, model.predict_proba(scaler.transform(X)), rtol=1e-6)


def test_onnx_metadata_names_the_classes(tmp_path):
    model = gn.mlp([3, 2], rng=0)
    model.meta["class_names"] = ["cat", "dog"]
    proto = to_onnx(model)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == ["cat", "dog"]
    assert props["architecture"] == "Dense(3->2)"
    assert [i.name for i in proto.graph.input] == ["features"]
    assert [o.name for o in proto.graph.output] == ["probabilities", "label"]


def test_activation_without_onnx_translation_is_refused(tmp_path, monkeypatch):
    class Cube(ActivationFunction):
        name = "cube_for_test"

        def forward(self, z):
            return z**3

        def backward(self, z, a, grad_a):
            return grad_a * 3 * z * z

    monkeypatch.setitem(ACTIVATIONS, Cube.name, Cube)
    model = gn.Sequential([Dense(3, 4), Activation(Cube()), Dense(4, 2)], rng=0)
    with pytest.raises(ConfigError, match=r"layer 1 \(Activation\(cube_for_test\)\).*no ONNX translation"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_unknown_layer_is_refused():
    class Twice(Layer):
        def forward(self, X, *, training=False, rng=None):
            return 2 * X, lambda g, need_input_grad=True: 2 * g

    with pytest.raises(ConfigError, match=r"layer 1 \(Twice\)"):
        to_onnx(gn.Sequential([Dense(3, 2), Twice()], rng=0))


def test_torch_state_dict_loads_into_the_torch_twin(tmp_path):
    torch = pytest.importorskip("torch")
    from glassnet.interop.torch import to_torch

    rng = np.random.default_rng(4)
    model = gn.mlp([6, 8, 3], "gelu", rng=rng)
    EXPORTERS["torch"].write(model, tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert tuple(state["0.weight"].shape) == (8, 6)
    net = to_torch(gn.mlp([6, 8, 3], "gelu", rng=99))  # other weights, then the exported ones
    net.load_state_dict(state)
    X = rng.normal(size=(20, 6)).astype(np.float32)
    expected = to_torch(model)(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_array_equal(net(torch.from_numpy(X)).detach().numpy(), expected)
    np.testing.assert_allclose(expected, model(X), atol=1e-5)


def test_glassnet_export_command_writes_each_format(tmp_path, capsys):
    assert main(["train", "-q", "--hidden", "16", "--epochs", "2", "-o", str(tmp_path / "m.npz")]) == 0
    model = gn.load_model(tmp_path / "m.npz")
    for name, exporter in EXPORTERS.items():
        if name == "torch":
            pytest.importorskip("torch")
        out = tmp_path / f"m{exporter.suffix}"
        assert main(["export", str(tmp_path / "m.npz"), "--format", name, "-o", str(out)]) == 0
        assert out.stat().st_size > 0
    # the safetensors file loads back as the same model, with its preprocessing
    again = gn.load_model(tmp_path / "m.safetensors")
    assert again.meta["preprocessing"] == model.meta["preprocessing"]
    for key, value in model.params().items():
        np.testing.assert_array_equal(again.params()[key], value)
    out = capsys.readouterr().out
    assert "exported as onnx to" in out and "exported as safetensors to" in out
