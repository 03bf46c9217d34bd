"""glassnet.core.activations: every registered activation, its derivative, its config, and known values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glassnet import ACTIVATIONS, ConfigError, get_activation
from glassnet.core.activations import ActivationFunction
from glassnet.core.init import INITIALIZERS
from glassnet.nn.layers import Activation, layer_from_config
from strategies import PROPERTY_SETTINGS, central_difference, float_arrays, float_dtypes, strict_fp

NAMES = sorted(ACTIVATIONS)

#: non-default configurations, so the constructor arguments are exercised as well.
CONFIGURED = [
    ("leaky_relu", {"slope": 0.2}),
    ("elu", {"alpha": 0.5}),
    ("swish", {"beta": 1.7}),
    ("hard_tanh", {"min_val": -2.0, "max_val": 0.5}),
]


def _all_instances() -> list[ActivationFunction]:
    return [cls() for _, cls in sorted(ACTIVATIONS.items())] + [ACTIVATIONS[n](**kw) for n, kw in CONFIGURED]


INSTANCES = _all_instances()
IDS = [repr(a) for a in INSTANCES]

EXTREME_Z = np.concatenate(
    [np.linspace(-1e4, 1e4, 2001), [-1e4, -1e3, -88.0, -30.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 30.0, 88.0, 1e3, 1e4]]
)


def test_registry_has_the_documented_activations():
    expected = {
        "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "softsign",
        "gelu", "gelu_tanh", "silu", "swish", "mish", "hard_tanh", "hard_sigmoid",
    }  # fmt: skip
    assert expected <= set(ACTIVATIONS)
    for name, cls in ACTIVATIONS.items():
        assert cls.name == name
        assert issubclass(cls, ActivationFunction)


# ---------------------------------------------------------------- registry-wide contract
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_forward_and_derivative_finite_for_extreme_inputs(act, dtype):
    z = EXTREME_Z.astype(dtype)
    with strict_fp():
        a = act.forward(z)
        d = act.derivative(z)
        g = act.backward(z, a, np.full_like(z, 0.5))
    for out in (a, d, g):
        assert out.shape == z.shape
        assert out.dtype == dtype, f"{act!r} turned {np.dtype(dtype)} into {out.dtype}"
        assert np.all(np.isfinite(out)), f"{act!r} gave non-finite values at z={z[~np.isfinite(out)][:5]}"


@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_derivative_equals_central_difference(act):
    rng = np.random.default_rng(1)
    z = np.concatenate([np.linspace(-6.0, 6.0, 601), rng.uniform(-20, 20, 200), rng.standard_normal(200)])
    kinks = np.asarray(act.kinks, dtype=np.float64)
    if kinks.size:
        z = z[np.min(np.abs(z[:, None] - kinks[None, :]), axis=1) > 1e-3]
    h = 1e-6
    numeric = central_difference(act.forward, z, h)
    analytic = act.derivative(z)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8, err_msg=repr(act))


@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_backward_is_upstream_gradient_times_derivative(act):
    rng = np.random.default_rng(2)
    z = rng.normal(0, 3, size=(5, 7))
    a = act.forward(z)
    grad_a = rng.standard_normal(z.shape)
    np.testing.assert_allclose(act.backward(z, a, grad_a), grad_a * act.derivative(z), rtol=1e-15, atol=0)


@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_declared_saturation_range_is_where_the_derivative_vanishes(act):
    """The doctor trusts ``saturated``: every output it calls saturated has ``|f'(z)| < 0.02``, and a
    saturating activation does reach its flat part (the rule is not vacuous)."""
    z = np.linspace(-200, 200, 80001)
    a = act.forward(z)
    flat = act.saturated(a)
    if flat is None:
        assert not act.saturates
        return
    assert act.saturates and flat.shape == a.shape and flat.dtype == bool
    assert flat.any() and not flat.all()
    assert np.max(np.abs(act.derivative(z)[flat])) < 0.02


@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_declared_dead_units_pass_no_gradient(act):
    """``dead`` marks the units that output <= 0 on every input; for an activation that declares it, such a
    unit's derivative is exactly 0 on those inputs, and a unit alive on one input is not dead."""
    z = np.array([[-3.0, 2.0, -0.5], [-1.0, -4.0, -2.0], [-0.1, -1.0, 1.0]])  # units 0 dead; 1, 2 alive once
    a = act.forward(z)
    dead = act.dead(a)
    if dead is None:
        return
    np.testing.assert_array_equal(dead, [True, False, False])
    assert np.all(act.derivative(z)[a <= 0] == 0)


@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_forward_does_not_modify_its_input(act):
    z = np.linspace(-3, 3, 13)
    before = z.copy()
    a = act.forward(z)
    act.backward(z, a, np.ones_like(z))
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("act", INSTANCES, ids=IDS)
def test_config_round_trip(act):
    cfg = act.config()
    assert json.loads(json.dumps(cfg)) == cfg
    rebuilt = type(act)(**cfg)
    assert rebuilt == act
    assert hash(rebuilt) == hash(act)
    assert get_activation(act.name, **cfg) == act
    layer = Activation(act.name, **cfg)
    assert layer_from_config("Activation", layer.config()).fn == act
    z = np.linspace(-4, 4, 9)
    np.testing.assert_array_equal(rebuilt.forward(z), act.forward(z))


@pytest.mark.parametrize("name", NAMES)
def test_class_attributes(name):
    cls = ACTIVATIONS[name]
    act = cls()
    assert act.default_init in INITIALIZERS
    assert all(isinstance(k, float) and math.isfinite(k) for k in act.kinks)
    assert get_activation(name) == act
    assert get_activation(act) is act


@PROPERTY_SETTINGS
@given(name=st.sampled_from(NAMES), dtype=float_dtypes(), data=st.data())
def test_forward_finite_for_any_shape_and_value(name, dtype, data):
    z = data.draw(float_arrays(-1e4, 1e4, dtype))
    act = ACTIVATIONS[name]()
    with strict_fp():
        a = act.forward(z)
        d = act.derivative(z)
    assert a.shape == d.shape == z.shape
    assert a.dtype == d.dtype == dtype
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))


# ---------------------------------------------------------------- known values
def _f(name, z, **kw):
    return get_activation(name, **kw).forward(np.asarray(z, dtype=np.float64))


def _d(name, z, **kw):
    return get_activation(name, **kw).derivative(np.asarray(z, dtype=np.float64))


def test_identity():
    z = np.array([-2.5, 0.0, 3.0])
    np.testing.assert_array_equal(_f("identity", z), z)
    np.testing.assert_array_equal(_d("identity", z), [1, 1, 1])


def test_sigmoid_values():
    np.testing.assert_array_equal(_f("sigmoid", [0.0]), [0.5])
    np.testing.assert_allclose(_f("sigmoid", [math.log(3), -math.log(3)]), [0.75, 0.25], rtol=1e-15)
    np.testing.assert_allclose(_d("sigmoid", [0.0, math.log(3)]), [0.25, 0.1875], rtol=1e-15)


def test_tanh_values():
    np.testing.assert_allclose(_f("tanh", [0.0, 1.0]), [0.0, 0.7615941559557649], rtol=1e-15)
    np.testing.assert_allclose(_d("tanh", [0.0, 1.0]), [1.0, 1 - 0.7615941559557649**2], rtol=1e-14)


def test_relu_values_and_derivative_zero_at_kink():
    np.testing.assert_array_equal(_f("relu", [-2.0, 0.0, 3.0]), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(_d("relu", [-2.0, 0.0, 3.0]), [0.0, 0.0, 1.0])


def test_leaky_relu_slope():
    np.testing.assert_allclose(_f("leaky_relu", [-2.0, 0.0, 3.0]), [-0.02, 0.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(_d("leaky_relu", [-2.0, 3.0]), [0.01, 1.0], rtol=1e-15)
    np.testing.assert_allclose(_f("leaky_relu", [-2.0, 3.0], slope=0.2), [-0.4, 3.0], rtol=1e-15)
    np.testing.assert_allclose(_d("leaky_relu", [-2.0, 3.0], slope=0.2), [0.2, 1.0], rtol=1e-15)


def test_elu_values():
    np.testing.assert_allclose(_f("elu", [-1.0, 2.0]), [math.exp(-1) - 1, 2.0], rtol=1e-15)
    np.testing.assert_allclose(_f("elu", [-1.0], alpha=2.0), [2 * (math.exp(-1) - 1)], rtol=1e-15)
    np.testing.assert_allclose(_d("elu", [-1.0, 2.0]), [math.exp(-1), 1.0], rtol=1e-15)
    # saturates at -alpha
    np.testing.assert_allclose(_f("elu", [-1e4]), [-1.0], rtol=0)


def test_selu_constants_and_values():
    cls = ACTIVATIONS["selu"]
    assert cls.alpha == pytest.approx(1.6732632423543772, rel=1e-16)
    assert cls.scale == pytest.approx(1.0507009873554805, rel=1e-16)
    np.testing.assert_allclose(_f("selu", [1.0, -1.0]), [1.0507009873554805, -1.1113307378125625], rtol=1e-15)
    np.testing.assert_allclose(
        _d("selu", [1.0, -1.0]), [1.0507009873554805, 1.0507009873554805 * 1.6732632423543772 * math.exp(-1)], rtol=1e-15
    )
    # saturates at -scale * alpha
    np.testing.assert_allclose(_f("selu", [-1e4]), [-1.0507009873554805 * 1.6732632423543772], rtol=1e-15)


def test_softplus_values():
    np.testing.assert_allclose(_f("softplus", [0.0, 1.0]), [math.log(2), math.log1p(math.e)], rtol=1e-15)
    np.testing.assert_allclose(_d("softplus", [0.0, 2.0]), [0.5, 1 / (1 + math.exp(-2))], rtol=1e-15)


def test_softsign_values():
    np.testing.assert_allclose(_f("softsign", [1.0, -3.0, 0.0]), [0.5, -0.75, 0.0], rtol=1e-15)
    np.testing.assert_allclose(_d("softsign", [1.0, -3.0, 0.0]), [0.25, 1 / 16, 1.0], rtol=1e-15)


def test_gelu_values():
    np.testing.assert_allclose(_f("gelu", [1.0, -1.0, 0.0]), [0.8413447460685429, -0.15865525393145707, 0.0], rtol=1e-15)
    # f'(z) = Phi(z) + z phi(z): 0.5 at 0, Phi(1) + phi(1) at 1
    np.testing.assert_allclose(
        _d("gelu", [0.0, 1.0]), [0.5, 0.8413447460685429 + math.exp(-0.5) / math.sqrt(2 * math.pi)], rtol=1e-15
    )


def test_gelu_tanh_is_close_to_gelu():
    np.testing.assert_allclose(_f("gelu_tanh", [1.0]), [0.8411919906082768], rtol=1e-15)
    z = np.linspace(-8, 8, 4001)
    diff = np.abs(_f("gelu_tanh", z) - _f("gelu", z))
    assert diff.max() < 5e-4
    assert diff.max() > 1e-5  # it is an approximation, not the same function


def test_silu_and_swish_values():
    np.testing.assert_allclose(_f("silu", [1.0, 0.0]), [0.7310585786300049, 0.0], rtol=1e-15)
    z = np.linspace(-10, 10, 201)
    np.testing.assert_allclose(_f("swish", z), _f("silu", z), rtol=1e-15, atol=0)
    np.testing.assert_allclose(_d("swish", z), _d("silu", z), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(_f("swish", [1.0], beta=2.0), [0.8807970779778823], rtol=1e-15)
    np.testing.assert_allclose(_d("silu", [0.0]), [0.5], rtol=1e-15)


def test_mish_values():
    np.testing.assert_allclose(_f("mish", [1.0, 0.0]), [0.8650983882673103, 0.0], rtol=1e-15)
    np.testing.assert_allclose(_d("mish", [0.0]), [math.tanh(math.log(2))], rtol=1e-15)


def test_hard_tanh_values():
    z = [-3.0, -1.0, 0.25, 1.0, 3.0]
    np.testing.assert_array_equal(_f("hard_tanh", z), [-1.0, -1.0, 0.25, 1.0, 1.0])
    np.testing.assert_array_equal(_d("hard_tanh", [-3.0, 0.25, 3.0]), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(_f("hard_tanh", z, min_val=-2.0, max_val=0.5), [-2.0, -1.0, 0.25, 0.5, 0.5])
    assert get_activation("hard_tanh", min_val=-2.0, max_val=0.5).kinks == (-2.0, 0.5)


def test_hard_sigmoid_follows_pytorch_definition():
    z = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0])
    expected = np.clip(z / 6 + 0.5, 0, 1)
    np.testing.assert_allclose(_f("hard_sigmoid", z), expected, rtol=1e-15)
    np.testing.assert_allclose(_f("hard_sigmoid", z), [0, 0, 0.25, 0.5, 0.75, 1, 1], rtol=1e-15)
    np.testing.assert_allclose(_d("hard_sigmoid", [-4.0, 0.0, 2.0, 4.0]), [0, 1 / 6, 1 / 6, 0], rtol=1e-15)


# ---------------------------------------------------------------- against PyTorch (when installed)
_TORCH_EQUIVALENTS = {
    "sigmoid": lambda F, z: F.sigmoid(z),
    "tanh": lambda F, z: F.tanh(z),
    "relu": lambda F, z: F.relu(z),
    "leaky_relu": lambda F, z: F.leaky_relu(z, 0.01),
    "elu": lambda F, z: F.elu(z),
    "selu": lambda F, z: F.selu(z),
    "softplus": lambda F, z: F.softplus(z, threshold=1e9),
    "softsign": lambda F, z: F.softsign(z),
    "gelu": lambda F, z: F.gelu(z),
    "gelu_tanh": lambda F, z: F.gelu(z, approximate="tanh"),
    "silu": lambda F, z: F.silu(z),
    "mish": lambda F, z: F.mish(z),
    "hard_tanh": lambda F, z: F.hardtanh(z),
    "hard_sigmoid": lambda F, z: F.hardsigmoid(z),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(_TORCH_EQUIVALENTS))
def test_values_and_derivatives_match_pytorch(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.normal(0, 3, 200), [-20.0, -5.0, -0.5, 0.5, 5.0, 20.0]])
    kinks = np.asarray(ACTIVATIONS[name]().kinks, dtype=np.float64)
    if kinks.size:
        z = z[np.min(np.abs(z[:, None] - kinks[None, :]), axis=1) > 1e-6]
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = _TORCH_EQUIVALENTS[name](F, zt)
    out.sum().backward()
    np.testing.assert_allclose(_f(name, z), out.detach().numpy(), rtol=1e-12, atol=1e-14)
    # PyTorch's hardsigmoid backward multiplies by a single-precision 1/6 even in float64.
    rtol = 1e-7 if name == "hard_sigmoid" else 1e-12
    np.testing.assert_allclose(_d(name, z), zt.grad.numpy(), rtol=rtol, atol=1e-14)


# ---------------------------------------------------------------- errors
def test_unknown_activation_lists_known_names():
    with pytest.raises(ConfigError) as info:
        get_activation("relu6")
    message = str(info.value)
    assert "relu6" in message
    for name in ACTIVATIONS:
        assert name in message


def test_bad_activation_arguments():
    with pytest.raises(ConfigError, match="leaky_relu"):
        get_activation("leaky_relu", alpha=0.3)
    with pytest.raises(ConfigError, match="slope"):
        get_activation("leaky_relu", slope=float("nan"))
    with pytest.raises(ConfigError, match="min_val < max_val"):
        get_activation("hard_tanh", min_val=1.0, max_val=-1.0)
    with pytest.raises(ConfigError, match="keyword"):
        get_activation(ACTIVATIONS["relu"](), slope=0.1)
    with pytest.raises(ConfigError):
        get_activation(None)  # type: ignore[arg-type]
