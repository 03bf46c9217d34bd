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
* ``Softmax`` <-> ``nn.Softmax(dim=1)``; ``Dropout(rate)`` <-> ``nn.Dropout(p=rate)``.
* ``Activation`` <-> the PyTorch module of the same function (table in
  :data:`TO_TORCH_ACTIVATIONS`); ``swish`` converts only with ``beta = 1``
  (it is then ``nn.SiLU``, which converts back as ``silu``).

The dtype is kept (float32 <-> ``torch.float32``, float64 <-> ``torch.float64``)
and so is every parameter bit, so ``from_torch(to_torch(model))`` predicts
exactly what ``model`` predicts.  ``to_torch`` returns the module in eval mode,
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
from glassnet.errors import ConfigError, GlassnetError
from glassnet.nn.layers import Activation, Dense, Dropout, Layer, Softmax
from glassnet.nn.model import Sequential

__all__ = ["to_torch", "from_torch", "TO_TORCH_ACTIVATIONS", "FROM_TORCH_LAYERS", "SOFTPLUS_MIN_THRESHOLD"]

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


def _layer_to_torch(i: int, layer: Layer, dtype: torch.dtype) -> nn.Module:
    if type(layer) is Dense:
        return _dense_to_torch(layer, dtype)
    if type(layer) is Softmax:
        return nn.Softmax(dim=1)
    if type(layer) is Dropout:
        return nn.Dropout(p=layer.rate)
    if type(layer) is Activation:
        build = TO_TORCH_ACTIVATIONS.get(layer.fn.name)
        if build is None:
            raise ConfigError(
                f"cannot convert layer {i} ({layer.describe()}) to PyTorch: activations that convert are "
                + ", ".join(sorted(TO_TORCH_ACTIVATIONS))
            )
        try:
            return build(layer.fn)
        except ConfigError as exc:
            raise ConfigError(f"cannot convert layer {i} ({layer.describe()}) to PyTorch: {exc}") from None
    raise ConfigError(
        f"cannot convert layer {i} ({type(layer).__name__}) to PyTorch: "
        "supported layers are Dense, Activation, Softmax, Dropout"
    )


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


def _dropout_from_torch(module: nn.Dropout) -> Dropout:
    if not 0.0 <= module.p < 1.0:
        raise ConfigError(f"glassnet's Dropout needs p in [0, 1), got p = {module.p}")
    return Dropout(module.p)


#: exact PyTorch module type -> function building the glassnet layer (``nn.Linear`` is handled apart).
#: Types match exactly: a subclass may override ``forward``, so it is refused, not guessed.
FROM_TORCH_LAYERS: dict[type[nn.Module], Callable[[nn.Module], Layer]] = {
    nn.Softmax: _softmax_from_torch,
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


def _linear_from_torch(module: nn.Linear) -> tuple[Dense, np.dtype]:
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
    return dense, dtype


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
    dtypes: set[np.dtype] = set()
    for i, child in enumerate(module):
        kind = type(child)
        try:
            if kind is nn.Linear:
                dense, dtype = _linear_from_torch(child)
                dtypes.add(dtype)
                layers.append(dense)
            elif kind in FROM_TORCH_LAYERS:
                layers.append(FROM_TORCH_LAYERS[kind](child))
            else:
                raise ConfigError(f"supported layers are {_supported_names()}")
        except GlassnetError as exc:
            raise ConfigError(f"cannot convert layer {i} ({kind.__name__}) to glassnet: {exc}") from None
    if len(dtypes) > 1:
        raise ConfigError(f"all Linear layers must share one dtype, got {sorted(d.name for d in dtypes)}")
    dtype = dtypes.pop() if dtypes else _NUMPY_DTYPES.get(torch.get_default_dtype(), np.dtype(np.float32))
    return Sequential(layers, dtype=dtype)
