"""glassnet.interop.torch: to_torch/from_torch keep weights, dtype and outputs, and refuse what they cannot convert."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import glassnet as gn  # noqa: E402
import glassnet.interop.torch as gtorch  # noqa: E402
from glassnet.core.activations import ACTIVATIONS, ActivationFunction  # noqa: E402
from glassnet.errors import ConfigError  # noqa: E402
from glassnet.nn.layers import Activation, Dense, Dropout, Layer, Softmax  # noqa: E402

pytestmark = pytest.mark.torch

#: glassnet activation (name, options) -> expected PyTorch module type and its attributes.
EXPECTED = [
    ("identity", {}, nn.Identity, {}),
    ("sigmoid", {}, nn.Sigmoid, {}),
    ("tanh", {}, nn.Tanh, {}),
    ("relu", {}, nn.ReLU, {}),
    ("leaky_relu", {"slope": 0.2}, nn.LeakyReLU, {"negative_slope": 0.2}),
    ("elu", {"alpha": 0.7}, nn.ELU, {"alpha": 0.7}),
    ("selu", {}, nn.SELU, {}),
    ("softplus", {}, nn.Softplus, {"beta": 1.0, "threshold": 20.0}),
    ("softsign", {}, nn.Softsign, {}),
    ("gelu", {}, nn.GELU, {"approximate": "none"}),
    ("gelu_tanh", {}, nn.GELU, {"approximate": "tanh"}),
    ("silu", {}, nn.SiLU, {}),
    ("swish", {"beta": 1.0}, nn.SiLU, {}),
    ("mish", {}, nn.Mish, {}),
    ("hard_tanh", {"min_val": -0.5, "max_val": 2.0}, nn.Hardtanh, {"min_val": -0.5, "max_val": 2.0}),
    ("hard_sigmoid", {}, nn.Hardsigmoid, {}),
]
IDS = [name for name, *_ in EXPECTED]


def make_model(activation: str, options: dict, dtype=np.float64, output: str = "logits", dropout: float = 0.0, seed: int = 0):
    """A 2-hidden-layer net with non-zero biases, for inputs of width 5 and 4 outputs."""
    rng = np.random.default_rng(seed)
    model = gn.mlp([5, 7, 6, 4], activation=gn.get_activation(activation, **options), output=output,
                   dropout=dropout, rng=rng, dtype=dtype)
    for layer in model.layers:
        if isinstance(layer, Dense):
            layer.params["b"][...] = rng.normal(0.0, 0.5, size=layer.n_out)
    return model


def inputs(dtype=np.float64, n: int = 9, seed: int = 1) -> np.ndarray:
    # scale 3 reaches the saturated parts of hard_tanh / hard_sigmoid and both sides of every kink
    return (3.0 * np.random.default_rng(seed).standard_normal((n, 5))).astype(dtype)


def torch_forward(net: nn.Module, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


# ---------------------------------------------------------------------- to_torch
@pytest.mark.parametrize("name, options, module_type, attributes", EXPECTED, ids=IDS)
def test_activation_maps_to_its_pytorch_twin(name, options, module_type, attributes):
    net = gtorch.to_torch(gn.Sequential([Activation(name, **options)], dtype=np.float64))
    assert type(net[0]) is module_type
    for attr, value in attributes.items():
        assert getattr(net[0], attr) == value


def test_table_covers_the_documented_activations():
    assert {name for name, *_ in EXPECTED} == set(gtorch.TO_TORCH_ACTIVATIONS)
    assert set(gtorch.TO_TORCH_ACTIVATIONS) <= set(ACTIVATIONS)


@pytest.mark.parametrize("name, options", [(n, o) for n, o, *_ in EXPECTED], ids=IDS)
@pytest.mark.parametrize("output", ["logits", "softmax"])
def test_to_torch_outputs_equal_glassnet_float64(name, options, output):
    model = make_model(name, options, output=output)
    X = inputs()
    net = gtorch.to_torch(model)
    ours, theirs = model(X), torch_forward(net, X)
    assert theirs.dtype == np.float64
    np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, options", [(n, o) for n, o, *_ in EXPECTED], ids=IDS)
def test_to_torch_outputs_close_float32(name, options):
    model = make_model(name, options, dtype=np.float32, output="softmax")
    X = inputs(np.float32)
    net = gtorch.to_torch(model)
    assert net[0].weight.dtype == torch.float32
    theirs = torch_forward(net, X)
    assert theirs.dtype == np.float32
    np.testing.assert_allclose(theirs, model(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype, torch_dtype", [(np.float32, "float32"), (np.float64, "float64")])
def test_to_torch_copies_weights_transposed_in_the_same_dtype(dtype, torch_dtype):
    model = make_model("tanh", {}, dtype=dtype)
    net = gtorch.to_torch(model)
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    for i in (0, 2, 4):
        W, b = model.params()[f"{i}.W"], model.params()[f"{i}.b"]
        assert net[i].weight.dtype == getattr(torch, torch_dtype)
        assert tuple(net[i].weight.shape) == (W.shape[1], W.shape[0])
        assert np.array_equal(net[i].weight.detach().numpy(), W.T)
        assert np.array_equal(net[i].bias.detach().numpy(), b)
    # copies: changing the PyTorch weights leaves glassnet's alone
    before = model.params()["0.W"].copy()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert np.array_equal(model.params()["0.W"], before)


def test_to_torch_softmax_dropout_and_eval_mode():
    model = make_model("relu", {}, output="softmax", dropout=0.4)
    net = gtorch.to_torch(model)
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.Softmax]
    assert net[2].p == 0.4 and net[7].dim == 1
    assert not net.training  # eval mode: the same function as glassnet's model(X)
    X = inputs()
    np.testing.assert_allclose(torch_forward(net, X), model(X), rtol=1e-12, atol=1e-15)
    net.train()  # training mode really drops units, scaled by 1 / (1 - p)
    state = torch.random.get_rng_state()
    dropped = torch_forward(net[:3], X)
    torch.random.set_rng_state(state)  # leave PyTorch's global RNG as other tests expect it
    kept = model.layers[1](model.layers[0](X))
    assert np.any((kept != 0) & (dropped == 0)) and np.any(dropped != 0)
    np.testing.assert_allclose(dropped[dropped != 0], kept[dropped != 0] / 0.6, rtol=1e-12)


def test_to_torch_leaves_torch_global_rng_alone():
    state = torch.random.get_rng_state()
    gtorch.to_torch(make_model("relu", {}))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_to_torch_refuses_swish_with_beta_not_one():
    model = gn.Sequential([Dense(3, 4), Activation("swish", beta=2.0), Dense(4, 2)], rng=0)
    with pytest.raises(ConfigError, match=r"layer 1 \(Activation\(swish\)\).*beta = 2"):
        gtorch.to_torch(model)


def test_to_torch_refuses_unknown_layers_and_activations():
    class Scale(Layer):
        def forward(self, X, *, training=False, rng=None):
            return 2 * X, lambda g, need_input_grad=True: 2 * g

    with pytest.raises(ConfigError, match=r"layer 1 \(Scale\).*supported layers are Dense, Activation"):
        gtorch.to_torch(gn.Sequential([Dense(3, 4), Scale()], rng=0))

    class Cube(ActivationFunction):  # deliberately not registered
        name = "cube_for_test"

        def forward(self, z):
            return z**3

        def backward(self, z, a, grad_a):
            return grad_a * 3 * z**2

    with pytest.raises(ConfigError, match=r"layer 0 \(Activation\(cube_for_test\)\).*hard_sigmoid"):
        gtorch.to_torch(gn.Sequential([Activation(Cube())]))
    with pytest.raises(ConfigError, match="expects a glassnet Sequential, got Linear"):
        gtorch.to_torch(nn.Linear(2, 2))


# ---------------------------------------------------------------------- round trips and from_torch
@pytest.mark.parametrize("name, options", [(n, o) for n, o, *_ in EXPECTED], ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_identical(name, options, dtype):
    model = make_model(name, options, dtype=dtype, output="softmax", dropout=0.25)
    back = gtorch.from_torch(gtorch.to_torch(model))
    assert back.dtype == model.dtype
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in model.layers]
    assert back.params().keys() == model.params().keys()
    for key, value in model.params().items():
        assert back.params()[key].dtype == value.dtype
        assert np.array_equal(back.params()[key], value), key
    for ours, theirs in zip(model.layers, back.layers):
        if isinstance(ours, Activation) and name != "swish":
            assert theirs.fn == ours.fn  # same function and options
        if isinstance(ours, Dropout):
            assert theirs.rate == ours.rate
    X = inputs(dtype)
    assert np.array_equal(back(X), model(X))
    assert np.array_equal(back.predict(X), model.predict(X))


def test_swish_round_trips_as_silu():
    model = make_model("swish", {"beta": 1.0})
    back = gtorch.from_torch(gtorch.to_torch(model))
    assert back.layers[1].fn.name == "silu"
    X = inputs()
    assert np.array_equal(back(X), model(X))


@pytest.mark.parametrize("module, name, config", [
    (nn.ReLU6(), "hard_tanh", {"min_val": 0.0, "max_val": 6.0}),
    (nn.ReLU(inplace=True), "relu", {}),
    (nn.Hardtanh(-2.0, 0.5), "hard_tanh", {"min_val": -2.0, "max_val": 0.5}),
    (nn.LeakyReLU(0.3), "leaky_relu", {"slope": 0.3}),
    (nn.GELU(approximate="tanh"), "gelu_tanh", {}),
    (nn.Softplus(beta=1.0, threshold=30.0), "softplus", {}),
], ids=["relu6", "relu_inplace", "hardtanh", "leaky", "gelu_tanh", "softplus_threshold30"])
def test_from_torch_activation_options(module, name, config):
    net = nn.Sequential(nn.Linear(3, 4, dtype=torch.float64), module)
    model = gtorch.from_torch(net)
    assert model.layers[1].fn.name == name and model.layers[1].fn.config() == config
    X = inputs()[:, :3]
    np.testing.assert_allclose(model(X), torch_forward(net, X), rtol=1e-13, atol=1e-15)


def test_from_torch_of_a_pytorch_built_net():
    """A net built and initialised in PyTorch (not by to_torch) converts with the same outputs."""
    gen = torch.Generator().manual_seed(3)
    net = nn.Sequential(nn.Linear(5, 8), nn.ELU(alpha=0.5), nn.Dropout(0.1), nn.Linear(8, 3, bias=False), nn.Softmax(dim=-1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    net.eval()
    model = gtorch.from_torch(net)
    assert model.dtype == np.float32
    assert model.describe() == "Dense(5->8) -> Activation(elu) -> Dropout(0.1) -> Dense(8->3) -> Softmax"
    assert np.array_equal(model.params()["0.W"], net[0].weight.detach().numpy().T)
    assert np.array_equal(model.params()["3.b"], np.zeros(3, dtype=np.float32))  # Linear without bias
    X = inputs(np.float32)
    np.testing.assert_allclose(model(X), torch_forward(net, X), rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        net[0].weight.zero_()
    assert np.any(model.params()["0.W"] != 0)  # a copy, not a view of the PyTorch storage


@pytest.mark.parametrize("net, message", [
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Conv2d(1, 1, 1)),
     r"cannot convert layer 3 \(Conv2d\) to glassnet: supported layers are Linear, .*Hardsigmoid"),
    (nn.Sequential(nn.Linear(4, 4), nn.Softplus(beta=2.0)),
     r"layer 1 \(Softplus\).*beta = 1, got beta = 2"),
    (nn.Sequential(nn.Linear(4, 4), nn.Softplus(threshold=5.0)),
     r"layer 1 \(Softplus\).*threshold >= 20"),
    (nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=0)), r"layer 1 \(Softmax\).*dim=0"),
    (nn.Sequential(nn.Linear(4, 4), nn.Dropout(1.0)), r"layer 1 \(Dropout\).*p = 1"),
    (nn.Sequential(nn.Linear(4, 4, dtype=torch.float16)), r"layer 0 \(Linear\).*float16"),
    (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2, dtype=torch.float64)), r"share one dtype"),
    (nn.Sequential(nn.Sequential(nn.Linear(4, 4))), r"layer 0 \(Sequential\)"),
    (nn.Sequential(nn.Hardswish()), r"layer 0 \(Hardswish\)"),
    (nn.Linear(4, 4), r"expects a torch.nn.Sequential, got Linear"),
], ids=["conv2d", "softplus_beta", "softplus_threshold", "softmax_dim0", "dropout_p1", "float16",
        "mixed_dtypes", "nested", "hardswish", "not_sequential"])
def test_from_torch_refuses_with_a_clear_message(net, message):
    with pytest.raises(ConfigError, match=message):
        gtorch.from_torch(net)


def test_from_torch_refuses_subclasses_it_cannot_vouch_for():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(ConfigError, match=r"layer 1 \(Doubled\)"):
        gtorch.from_torch(nn.Sequential(nn.Linear(2, 2), Doubled()))


def test_from_torch_catches_mismatched_widths():
    with pytest.raises(gn.ShapeError, match="layer 2"):
        gtorch.from_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)))


# ---------------------------------------------------------------------- importing
def test_glassnet_alone_does_not_import_torch():
    code = "import sys, glassnet; assert 'torch' not in sys.modules, 'glassnet imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_glassnet_torch_without_pytorch_says_how_to_install():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "try:\n    import glassnet.interop.torch\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert "pip install glassnet[torch]" in out.stdout


# ---------------------------------------------------------------------- the tables and the registries (issue 11)
def test_every_registered_layer_and_activation_has_a_torch_mapping_or_a_reason():
    assert gtorch.conversion_gaps() == []
    assert set(gtorch.TO_TORCH_LAYERS) | set(gtorch.NOT_CONVERTIBLE_LAYERS) >= set(gn.LAYERS)
    assert set(gtorch.TO_TORCH_ACTIVATIONS) | set(gtorch.NOT_CONVERTIBLE_ACTIVATIONS) >= set(ACTIVATIONS)


def test_a_new_registered_layer_without_a_mapping_is_a_gap_until_it_gets_a_reason(monkeypatch):
    class Toy(Layer):
        pass

    monkeypatch.setitem(gn.LAYERS, "Toy", Toy)
    assert gtorch.conversion_gaps() == ["layer Toy"]
    with pytest.raises(ConfigError, match=r"layer 0 \(Toy\) to PyTorch: supported layers are Dense, Activation"):
        gtorch.to_torch(gn.Sequential([Toy()]))
    monkeypatch.setitem(gtorch.NOT_CONVERTIBLE_LAYERS, "Toy", "PyTorch has no toys")
    assert gtorch.conversion_gaps() == []
    with pytest.raises(ConfigError, match=r"layer 0 \(Toy\) to PyTorch: PyTorch has no toys"):
        gtorch.to_torch(gn.Sequential([Toy()]))


# ---------------------------------------------------------------------- normalisation layers and LogSoftmax
def norm_model(norm: str, dtype=np.float64, affine: bool = True, seed: int = 0) -> gn.Sequential:
    """5 -> 6 -> [norm] -> tanh -> 4 with random gamma, beta and running statistics."""
    rng = np.random.default_rng(seed)
    cls = {"batch": gn.BatchNorm, "layer": gn.LayerNorm}[norm]
    kwargs = {"momentum": 0.25} if norm == "batch" else {}
    model = gn.Sequential([Dense(5, 6), cls(6, eps=1e-3, affine=affine, **kwargs), Activation("tanh"), Dense(6, 4)],
                          rng=rng, dtype=dtype)
    for name, a in model.params().items():
        a[...] = rng.normal(0, 0.8, a.shape)
    for name, a in model.state().items():
        a[...] = rng.uniform(0.5, 2.0, a.shape) if name.endswith("var") else rng.normal(0, 0.5, a.shape)
    return model


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("norm, module_type", [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_norm_layers_convert_with_their_options_parameters_and_running_statistics(norm, module_type, affine):
    model = norm_model(norm, affine=affine)
    net = gtorch.to_torch(model)
    module = net[1]
    assert type(module) is module_type and module.eps == 1e-3
    if norm == "batch":
        assert module.momentum == 0.25 and module.affine is affine and module.track_running_stats
        np.testing.assert_array_equal(module.running_mean.numpy(), model.state()["1.running_mean"])
        np.testing.assert_array_equal(module.running_var.numpy(), model.state()["1.running_var"])
    else:
        assert module.elementwise_affine is affine and tuple(module.normalized_shape) == (6,)
    if affine:
        np.testing.assert_array_equal(module.weight.detach().numpy(), model.params()["1.gamma"])
        np.testing.assert_array_equal(module.bias.detach().numpy(), model.params()["1.beta"])
    X = inputs(n=9)
    np.testing.assert_allclose(torch_forward(net, X), model(X), rtol=1e-12, atol=1e-14)  # eval mode
    back = gtorch.from_torch(net)
    assert back.describe() == model.describe() and back.layers[1].config() == model.layers[1].config()
    for name, value in {**model.params(), **model.state()}.items():
        np.testing.assert_array_equal({**back.params(), **back.state()}[name], value)


def test_batchnorm_training_forward_and_running_update_match_pytorch():
    model = norm_model("batch")
    net = gtorch.to_torch(model).train()
    X = inputs(n=7)
    ours = model.forward(X, training=True)[0]
    theirs = torch_forward(net, X)
    np.testing.assert_allclose(theirs, ours, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net[1].running_mean.numpy(), model.state()["1.running_mean"], rtol=1e-13)
    np.testing.assert_allclose(net[1].running_var.numpy(), model.state()["1.running_var"], rtol=1e-13)


def test_log_softmax_converts_both_ways():
    model = make_model("relu", {}, output="log_softmax")
    net = gtorch.to_torch(model)
    assert type(net[-1]) is nn.LogSoftmax and net[-1].dim == 1
    X = inputs()
    np.testing.assert_allclose(torch_forward(net, X), model(X), rtol=1e-12, atol=1e-14)
    assert type(gtorch.from_torch(net).layers[-1]) is gn.LogSoftmax


@pytest.mark.parametrize("net, message", [
    (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, momentum=None)), r"layer 1 \(BatchNorm1d\).*momentum=None"),
    (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False)),
     r"layer 1 \(BatchNorm1d\).*track_running_stats=False"),
    (nn.Sequential(nn.LayerNorm((2, 2))), r"layer 0 \(LayerNorm\).*normalized_shape=\(2, 2\)"),
    (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, dtype=torch.float64)), r"share one dtype"),
    (nn.Sequential(nn.Linear(4, 4), nn.LogSoftmax(dim=0)), r"layer 1 \(LogSoftmax\).*dim=0"),
], ids=["bn_cumulative", "bn_no_stats", "ln_2d", "bn_mixed_dtype", "logsoftmax_dim0"])
def test_from_torch_refuses_norm_layers_it_cannot_reproduce(net, message):
    with pytest.raises(ConfigError, match=message):
        gtorch.from_torch(net)
