"""Convert a glassnet :class:`~glassnet.nn.model.Sequential` to PyTorch and back.

::

    import glassnet.interop.torch as gtorch
    net = gtorch.to_torch(model)        # torch.nn.Sequential, same weights, same outputs
    model2 = gtorch.from_torch(net)     # glassnet.Sequential again

Needs PyTorch (``pip install glassnet[torch]``); ``import glassnet`` alone never
imports it.  Layers map one to one, so parameter ``"<i>.W"`` of the glassnet
model is ``net[i].weight`` in PyTorch:

* ``Dense`` ``Y = X W + b`` with ``W : (n_in, n_out)`` <-> ``nn.Linear`` with
  ``weight : (n_out, n_in) = W^T`` and ``bias : (n_out,) = b``.
* ``Softmax`` <-> ``nn.Softmax(dim=1)``; ``LogSoftmax`` <-> ``nn.LogSoftmax(dim=1)``;
  ``Dropout(rate)`` <-> ``nn.Dropout(p=rate)``.
* ``BatchNorm(d, eps, momentum, affine)`` <-> ``nn.BatchNorm1d(d, eps, momentum, affine)``:
  ``gamma``/``beta`` are ``weight``/``bias`` and the running statistics are
  ``running_mean``/``running_var`` (both libraries use the same momentum
  convention and an unbiased running variance).  PyTorch's cumulative
  average (``momentum=None``) and ``track_running_stats=False`` do not convert.
* ``LayerNorm(d, eps, affine)`` <-> ``nn.LayerNorm(d, eps, elementwise_affine=affine)``.
* ``Activation`` <-> the PyTorch module of the same function (table in
  :data:`TO_TORCH_ACTIVATIONS`); ``swish`` converts only with ``beta = 1``
  (it is then ``nn.SiLU``, which converts back as ``silu``).

The dtype is kept (float32 <-> ``torch.float32``, float64 <-> ``torch.float64``)
and so is every parameter bit, so ``from_torch(to_torch(model))`` predicts
exactly what ``model`` predicts.

The tables are checked against glassnet's registries: every registered
layer has an entry in :data:`TO_TORCH_LAYERS` or a reason in
:data:`NOT_CONVERTIBLE_LAYERS`, every activation one in
:data:`TO_TORCH_ACTIVATIONS` or :data:`NOT_CONVERTIBLE_ACTIVATIONS`
(:func:`conversion_gaps` lists what has neither; a test keeps it empty).  ``to_torch`` returns the module in eval mode,
where it computes what glassnet's ``model(X)`` computes (dropout off); call
``.train()`` on it to train with dropout in PyTorch.

Softplus and its threshold: glassnet's ``softplus(z) = max(z, 0) +
log1p(exp(-|z|))`` is exact for every ``z``.  ``nn.Softplus(beta=1,
threshold=20)`` returns ``z`` itself once ``beta * z > threshold``, which is
off by ``log1p(exp(-z)) < exp(-20) ~ 2.1e-9`` there (and its derivative is 1
instead of ``sigmoid(z) = 1 - 2.1e-9``).  That is below float32 resolution at
``z = 20`` but visible in float64, so outputs agree exactly only for
pre-activations below the threshold; :func:`from_torch` accepts
``nn.Softplus`` only with ``beta = 1`` and ``threshold >= 20`` (a smaller
threshold would change the function noticeably).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

try:
    # Absolute import: this is PyTorch itself, not this module (glassnet.interop.torch).
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "glassnet.interop.torch needs PyTorch; install it with `pip install glassnet[torch]`"
    ) from exc

from glassnet.core.activations import (
    ELU,
    GELU,
    SELU,
    ActivationFunction,
    GELUTanh,
    HardSigmoid,
    HardTanh,
    Identity,
    LeakyReLU,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softplus,
    Softsign,
    Swish,
    Tanh,
)
from glassnet.core.activations import ACTIVATIONS
from glassnet.errors import ConfigError, GlassnetError
from glassnet.nn.layers import LAYERS, Activation, Dense, Dropout, Layer, LogSoftmax, Softmax
from glassnet.nn.model import Sequential
from glassnet.nn.norm import BatchNorm, LayerNorm

__all__ = [
    "to_torch", "from_torch", "conversion_gaps", "TO_TORCH_LAYERS", "TO_TORCH_ACTIVATIONS", "FROM_TORCH_LAYERS",
    "NOT_CONVERTIBLE_LAYERS", "NOT_CONVERTIBLE_ACTIVATIONS", "SOFTPLUS_MIN_THRESHOLD",
]

#: nn.Softplus thresholds below this change the function by more than exp(-20) ~ 2e-9.
SOFTPLUS_MIN_THRESHOLD = 20.0

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
_NUMPY_DTYPES = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}


# ---------------------------------------------------------------------- glassnet -> torch
def _swish_to_torch(fn: Swish) -> nn.Module:
    if fn.beta != 1.0:
        raise ConfigError(
            f"PyTorch has no swish with beta = {fn.beta}; only beta = 1 (nn.SiLU) converts"
        )
    return nn.SiLU()


#: glassnet activation name -> function building the equivalent ``nn.Module`` from the instance.
TO_TORCH_ACTIVATIONS: dict[str, Callable[[ActivationFunction], nn.Module]] = {
    Identity.name: lambda fn: nn.Identity(),
    Sigmoid.name: lambda fn: nn.Sigmoid(),
    Tanh.name: lambda fn: nn.Tanh(),
    ReLU.name: lambda fn: nn.ReLU(),
    LeakyReLU.name: lambda fn: nn.LeakyReLU(negative_slope=fn.slope),
    ELU.name: lambda fn: nn.ELU(alpha=fn.alpha),
    SELU.name: lambda fn: nn.SELU(),
    Softplus.name: lambda fn: nn.Softplus(),
    Softsign.name: lambda fn: nn.Softsign(),
    GELU.name: lambda fn: nn.GELU(),
    GELUTanh.name: lambda fn: nn.GELU(approximate="tanh"),
    SiLU.name: lambda fn: nn.SiLU(),
    Swish.name: _swish_to_torch,
    Mish.name: lambda fn: nn.Mish(),
    HardTanh.name: lambda fn: nn.Hardtanh(min_val=fn.min_val, max_val=fn.max_val),
    HardSigmoid.name: lambda fn: nn.Hardsigmoid(),
}


def _dense_to_torch(layer: Dense, dtype: torch.dtype) -> nn.Linear:
    # skip_init: no random initialisation, so torch's global RNG is left untouched.
    linear = nn.utils.skip_init(nn.Linear, layer.n_in, layer.n_out, dtype=dtype)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["W"].T)))
        linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["b"])))
    return linear


def _copy_affine(module: nn.Module, layer: BatchNorm | LayerNorm) -> None:
    if layer.affine:
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(layer.params["gamma"]))
            module.bias.copy_(torch.from_numpy(layer.params["beta"]))


def _batchnorm_to_torch(layer: BatchNorm, dtype: torch.dtype) -> nn.BatchNorm1d:
    module = nn.BatchNorm1d(layer.n_features, eps=layer.eps, momentum=layer.momentum, affine=layer.affine, dtype=dtype)
    _copy_affine(module, layer)
    with torch.no_grad():
        module.running_mean.copy_(torch.from_numpy(layer.state["running_mean"]))
        module.running_var.copy_(torch.from_numpy(layer.state["running_var"]))
    return module


def _layernorm_to_torch(layer: LayerNorm, dtype: torch.dtype) -> nn.LayerNorm:
    module = nn.LayerNorm(layer.n_features, eps=layer.eps, elementwise_affine=layer.affine, dtype=dtype)
    _copy_affine(module, layer)
    return module


def _activation_to_torch(layer: Activation, dtype: torch.dtype) -> nn.Module:
    build = TO_TORCH_ACTIVATIONS.get(layer.fn.name)
    if build is None:
        reason = NOT_CONVERTIBLE_ACTIVATIONS.get(layer.fn.name, "activations that convert are " + ", ".join(
            sorted(TO_TORCH_ACTIVATIONS)))
        raise ConfigError(reason)
    return build(layer.fn)


#: glassnet layer type (its name in ``LAYERS``) -> function building the equivalent ``nn.Module``.
TO_TORCH_LAYERS: dict[str, Callable[[Layer, torch.dtype], nn.Module]] = {
    "Dense": _dense_to_torch,
    "Activation": _activation_to_torch,
    "Softmax": lambda layer, dtype: nn.Softmax(dim=1),
    "LogSoftmax": lambda layer, dtype: nn.LogSoftmax(dim=1),
    "Dropout": lambda layer, dtype: nn.Dropout(p=layer.rate),
    "BatchNorm": _batchnorm_to_torch,
    "LayerNorm": _layernorm_to_torch,
}
#: registered layer types PyTorch has no twin for -> why (to_torch refuses them with this reason).
NOT_CONVERTIBLE_LAYERS: dict[str, str] = {}
#: registered activations PyTorch has no twin for -> why.
NOT_CONVERTIBLE_ACTIVATIONS: dict[str, str] = {}


def conversion_gaps() -> list[str]:
    """Registered layers and activations with neither a PyTorch mapping nor a reason why not (should be none)."""
    layers = [f"layer {name}" for name in LAYERS if name not in TO_TORCH_LAYERS and name not in NOT_CONVERTIBLE_LAYERS]
    activations = [
        f"activation {name}" for name in ACTIVATIONS
        if name not in TO_TORCH_ACTIVATIONS and name not in NOT_CONVERTIBLE_ACTIVATIONS
    ]
    return layers + activations


def _layer_to_torch(i: int, layer: Layer, dtype: torch.dtype) -> nn.Module:
    name = type(layer).__name__
    # the exact registered class only: a subclass may compute something else
    build = TO_TORCH_LAYERS.get(name) if LAYERS.get(name) is type(layer) else None
    if build is None:
        reason = NOT_CONVERTIBLE_LAYERS.get(name, "supported layers are " + ", ".join(TO_TORCH_LAYERS))
        raise ConfigError(f"cannot convert layer {i} ({name}) to PyTorch: {reason}")
    try:
        return build(layer, dtype)
    except ConfigError as exc:
        raise ConfigError(f"cannot convert layer {i} ({layer.describe()}) to PyTorch: {exc}") from None


def to_torch(model: Sequential) -> nn.Sequential:
    """An ``nn.Sequential`` computing exactly what ``model`` computes, in eval mode.

    Layer ``i`` of the result is layer ``i`` of ``model``; ``Dense`` weights
    ``W : (n_in, n_out)`` become ``nn.Linear.weight = W^T : (n_out, n_in)``.
    Parameters are copies (changing one model leaves the other alone) in the
    model's dtype.  Raises :class:`ConfigError` naming the first layer PyTorch
    has no twin for (a custom layer, ``swish`` with ``beta != 1``).
    """
    if not isinstance(model, Sequential):
        raise ConfigError(f"to_torch expects a glassnet Sequential, got {type(model).__name__}")
    dtype = _TORCH_DTYPES[model.dtype]
    modules = [_layer_to_torch(i, layer, dtype) for i, layer in enumerate(model.layers)]
    return nn.Sequential(*modules).eval()


# ---------------------------------------------------------------------- torch -> glassnet
def _softplus_from_torch(module: nn.Softplus) -> Activation:
    if module.beta != 1:
        raise ConfigError(f"glassnet's softplus has beta = 1, got beta = {module.beta}")
    if module.threshold < SOFTPLUS_MIN_THRESHOLD:
        raise ConfigError(
            f"nn.Softplus is linear above threshold = {module.threshold}, which changes the function by "
            f"up to {math.exp(-module.threshold):.2g}; glassnet's softplus is exact, so only "
            f"threshold >= {SOFTPLUS_MIN_THRESHOLD:g} converts"
        )
    return Activation("softplus")


def _gelu_from_torch(module: nn.GELU) -> Activation:
    if module.approximate == "none":
        return Activation("gelu")
    if module.approximate == "tanh":
        return Activation("gelu_tanh")
    raise ConfigError(f"unknown GELU approximation {module.approximate!r}")  # pragma: no cover


def _softmax_from_torch(module: nn.Softmax) -> Softmax:
    # dim=None is PyTorch's legacy implicit choice, which is dim 1 for a 2-D input.
    if module.dim not in (1, -1, None):
        raise ConfigError(f"glassnet's Softmax is over the class axis (dim=1), got dim={module.dim}")
    return Softmax()


def _logsoftmax_from_torch(module: nn.LogSoftmax) -> LogSoftmax:
    if module.dim not in (1, -1, None):
        raise ConfigError(f"glassnet's LogSoftmax is over the class axis (dim=1), got dim={module.dim}")
    return LogSoftmax()


def _numpy(tensor: torch.Tensor, what: str) -> np.ndarray:
    """A float32/float64 copy of a parameter or buffer (ConfigError for other dtypes)."""
    if tensor.dtype not in _NUMPY_DTYPES:
        raise ConfigError(f"glassnet works in float32 or float64, got {what} of dtype {tensor.dtype}")
    return tensor.detach().cpu().numpy().astype(_NUMPY_DTYPES[tensor.dtype], copy=True)


def _set_affine(layer: BatchNorm | LayerNorm, module: nn.Module, dtype: np.dtype) -> None:
    layer.initialize(np.random.default_rng(0), dtype)  # gamma = 1, beta = 0 (no randomness is drawn)
    if layer.affine:
        layer.params["gamma"][...] = _numpy(module.weight, "weight")
        if module.bias is not None:  # nn.LayerNorm(bias=False): a zero beta computes the same
            layer.params["beta"][...] = _numpy(module.bias, "bias")


def _batchnorm_from_torch(module: nn.BatchNorm1d) -> BatchNorm:
    if not module.track_running_stats or module.running_mean is None:
        raise ConfigError("glassnet's BatchNorm keeps running statistics for eval mode; "
                          "got track_running_stats=False")
    if module.momentum is None:
        raise ConfigError("momentum=None (a cumulative average of every batch) has no glassnet twin; "
                          "glassnet's BatchNorm uses an exponential average with a momentum in [0, 1]")
    layer = BatchNorm(module.num_features, eps=module.eps, momentum=module.momentum, affine=module.affine)
    _set_affine(layer, module, _numpy(module.running_mean, "running_mean").dtype)
    layer.state["running_mean"][...] = _numpy(module.running_mean, "running_mean")
    layer.state["running_var"][...] = _numpy(module.running_var, "running_var")
    return layer


def _layernorm_from_torch(module: nn.LayerNorm) -> LayerNorm:
    if len(module.normalized_shape) != 1:
        raise ConfigError(f"glassnet's LayerNorm normalises one feature axis, got normalized_shape="
                          f"{tuple(module.normalized_shape)}")
    layer = LayerNorm(module.normalized_shape[0], eps=module.eps, affine=module.elementwise_affine)
    # without gamma and beta there is nothing to take the dtype from: the model's dtype applies
    _set_affine(layer, module, _numpy(module.weight, "weight").dtype if layer.affine else np.dtype(np.float32))
    return layer


def _dropout_from_torch(module: nn.Dropout) -> Dropout:
    if not 0.0 <= module.p < 1.0:
        raise ConfigError(f"glassnet's Dropout needs p in [0, 1), got p = {module.p}")
    return Dropout(module.p)


#: exact PyTorch module type -> function building the glassnet layer (``nn.Linear`` is handled apart).
#: Types match exactly: a subclass may override ``forward``, so it is refused, not guessed.
FROM_TORCH_LAYERS: dict[type[nn.Module], Callable[[nn.Module], Layer]] = {
    nn.Softmax: _softmax_from_torch,
    nn.LogSoftmax: _logsoftmax_from_torch,
    nn.BatchNorm1d: _batchnorm_from_torch,
    nn.LayerNorm: _layernorm_from_torch,
    nn.Dropout: _dropout_from_torch,
    nn.Identity: lambda m: Activation("identity"),
    nn.Sigmoid: lambda m: Activation("sigmoid"),
    nn.Tanh: lambda m: Activation("tanh"),
    nn.ReLU: lambda m: Activation("relu"),
    nn.LeakyReLU: lambda m: Activation("leaky_relu", slope=m.negative_slope),
    nn.ELU: lambda m: Activation("elu", alpha=m.alpha),
    nn.SELU: lambda m: Activation("selu"),
    nn.Softplus: _softplus_from_torch,
    nn.Softsign: lambda m: Activation("softsign"),
    nn.GELU: _gelu_from_torch,
    nn.SiLU: lambda m: Activation("silu"),
    nn.Mish: lambda m: Activation("mish"),
    nn.Hardtanh: lambda m: Activation("hard_tanh", min_val=m.min_val, max_val=m.max_val),
    nn.ReLU6: lambda m: Activation("hard_tanh", min_val=0.0, max_val=6.0),
    nn.Hardsigmoid: lambda m: Activation("hard_sigmoid"),
}


def _supported_names() -> str:
    return ", ".join(["Linear"] + [t.__name__ for t in FROM_TORCH_LAYERS])


def _linear_from_torch(module: nn.Linear) -> Dense:
    weight = module.weight.detach()
    if weight.dtype not in _NUMPY_DTYPES:
        raise ConfigError(f"glassnet works in float32 or float64, got parameters of dtype {weight.dtype}")
    dtype = _NUMPY_DTYPES[weight.dtype]
    dense = Dense(module.in_features, module.out_features)
    W = weight.cpu().numpy().T.astype(dtype, copy=True)
    if module.bias is None:  # glassnet's Dense always has a bias: a zero bias computes the same
        b = np.zeros(module.out_features, dtype=dtype)
    else:
        if module.bias.dtype != weight.dtype:
            raise ConfigError(f"weight is {weight.dtype} but bias is {module.bias.dtype}")
        b = module.bias.detach().cpu().numpy().astype(dtype, copy=True)
    dense.params = {"W": W, "b": b}
    dense.grads = {"W": np.zeros_like(W), "b": np.zeros_like(b)}
    return dense


def from_torch(module: nn.Sequential) -> Sequential:
    """A glassnet :class:`Sequential` computing what the ``nn.Sequential`` computes in eval mode.

    ``nn.Linear.weight : (out, in)`` becomes ``Dense`` ``W : (in, out)``; a
    Linear without bias gets a zero bias.  Parameters are copied bit for bit,
    in their dtype (float32 or float64, the same for every layer).  Raises
    :class:`ConfigError` naming the first layer that has no glassnet twin, e.g.
    ``cannot convert layer 3 (Conv2d) to glassnet: supported layers are ...``,
    or whose options glassnet cannot reproduce (``nn.Softplus(beta=2)``).
    """
    if not isinstance(module, nn.Sequential):
        raise ConfigError(f"from_torch expects a torch.nn.Sequential, got {type(module).__name__}")
    layers: list[Layer] = []
    for i, child in enumerate(module):
        kind = type(child)
        try:
            if kind is nn.Linear:
                layers.append(_linear_from_torch(child))
            elif kind in FROM_TORCH_LAYERS:
                layers.append(FROM_TORCH_LAYERS[kind](child))
            else:
                raise ConfigError(f"supported layers are {_supported_names()}")
        except GlassnetError as exc:
            raise ConfigError(f"cannot convert layer {i} ({kind.__name__}) to glassnet: {exc}") from None
    dtypes = {a.dtype for layer in layers for a in (*layer.params.values(), *layer.state.values())}
    if len(dtypes) > 1:
        raise ConfigError(f"all layers with parameters must share one dtype, got {sorted(d.name for d in dtypes)}")
    dtype = dtypes.pop() if dtypes else _NUMPY_DTYPES.get(torch.get_default_dtype(), np.dtype(np.float32))
    return Sequential(layers, dtype=dtype)
