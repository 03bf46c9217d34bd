"""Activation functions, each with its derivative written right beside it.

Every activation is a small class with two methods::

    forward(z)               -> a = f(z)                     z, a : any shape
    backward(z, a, grad_a)   -> grad_z = grad_a * f'(z)      same shape

``backward`` receives the forward's input *and* output, so a derivative can be
written in terms of the output, the way it is usually derived by hand
(``sigmoid' = a (1 - a)``, ``tanh' = 1 - a^2``, ``relu' = [a > 0]``) and
without recomputing the forward.  All of them act element-wise; softmax, whose
derivative is a full Jacobian, is a layer of its own (``layers.Softmax``).

``kinks`` lists the points where the derivative (or, for the finite-difference
check, a low derivative) is discontinuous; the gradient checker uses them to
recognise a finite difference that straddles a kink instead of calling it a
bug.  ``default_init`` names the weight initialiser that suits a Dense layer
followed by this activation.

To add an activation, write one class here and decorate it with
``@register``: the command line's choices, the registry-wide tests and the
documentation all read :data:`ACTIVATIONS`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from glassnet.errors import ConfigError
from glassnet.core.registry import adder, build
from glassnet.core.numerics import sigmoid as _sigmoid
from glassnet.core.numerics import softplus as _softplus

__all__ = ["ActivationFunction", "ACTIVATIONS", "register", "get_activation"]

def _erf(x: np.ndarray) -> np.ndarray:
    """erf element-wise: scipy's vectorised C when installed (imported on first use), else math.erf."""
    global _erf_impl
    if _erf_impl is None:
        try:
            from scipy.special import erf as impl
        except ImportError:  # pragma: no cover - exercised only without scipy
            impl = np.vectorize(math.erf, otypes=[float])
        _erf_impl = impl
    return _erf_impl(x)


_erf_impl = None

#: name -> activation class.  Filled by ``@register`` below.
ACTIVATIONS: dict[str, type[ActivationFunction]] = {}


register = adder(ACTIVATIONS, "activation")


class ActivationFunction:
    """Base class: an element-wise ``a = f(z)`` and its vector-Jacobian product."""

    name: ClassVar[str] = ""
    #: points where f' (or f'') jumps; finite differences across them are not a test of the code.
    kinks: ClassVar[tuple[float, ...]] = ()
    #: initialiser suited to a Dense layer feeding this activation (see ``glassnet.core.init``).
    default_init: ClassVar[str] = "glorot_uniform"
    #: the open output interval ``(lo, hi)`` outside which a unit is saturated: its derivative is (almost)
    #: 0 there. ``None``: the activation does not saturate. The doctor reads it (``saturated``).
    unsaturated_range: ClassVar[tuple[float, float] | None] = None
    #: whether an output ``a <= 0`` means a dead unit: no output and zero derivative (relu). The doctor
    #: reads it (``dead``).
    dies_at_zero: ClassVar[bool] = False

    @property
    def saturates(self) -> bool:
        """Whether the activation has a flat part where its derivative vanishes."""
        return self.unsaturated_range is not None

    def saturated(self, a: np.ndarray) -> np.ndarray | None:
        """Boolean mask of the outputs ``a`` (any shape) in the flat part, or ``None`` if there is none."""
        if self.unsaturated_range is None:
            return None
        lo, hi = self.unsaturated_range
        return (a <= lo) | (a >= hi)

    def dead(self, a: np.ndarray) -> np.ndarray | None:
        """Per unit of ``a : (n, units)``: ``True`` where the unit outputs 0 for every one of the n inputs
        (so it also passes no gradient); ``None`` if the activation cannot die."""
        if not self.dies_at_zero:
            return None
        return np.all(a <= 0, axis=0)

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad_a: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """``f'(z)`` element-wise (the backward with an upstream gradient of ones)."""
        z = np.asarray(z)
        return self.backward(z, self.forward(z), np.ones_like(z))

    def config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serialisable: ``type(self)(**self.config())`` rebuilds it."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.config() == other.config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.config().items()))))


@register
class Identity(ActivationFunction):
    """``f(z) = z``;  ``f'(z) = 1``."""

    name = "identity"

    def forward(self, z):
        return z

    def backward(self, z, a, grad_a):
        return grad_a


@register
class Sigmoid(ActivationFunction):
    """``f(z) = 1 / (1 + exp(-z))`` (stable for any z);  ``f'(z) = a (1 - a)``."""

    name = "sigmoid"
    unsaturated_range = (0.01, 0.99)

    def forward(self, z):
        return _sigmoid(z)

    def backward(self, z, a, grad_a):
        return grad_a * a * (1 - a)


@register
class Tanh(ActivationFunction):
    """``f(z) = tanh(z)``;  ``f'(z) = 1 - a^2``."""

    name = "tanh"
    unsaturated_range = (-0.99, 0.99)

    def forward(self, z):
        return np.tanh(z)

    def backward(self, z, a, grad_a):
        return grad_a * (1 - a * a)


@register
class ReLU(ActivationFunction):
    """``f(z) = max(z, 0)``;  ``f'(z) = [z > 0]`` (0 at the kink z = 0, as PyTorch)."""

    name = "relu"
    dies_at_zero = True
    kinks = (0.0,)
    default_init = "he_normal"

    def forward(self, z):
        return np.maximum(z, 0)

    def backward(self, z, a, grad_a):
        return grad_a * (a > 0)


@register
class LeakyReLU(ActivationFunction):
    """``f(z) = z if z > 0 else slope * z``;  ``f'(z) = 1 if z > 0 else slope``."""

    name = "leaky_relu"
    kinks = (0.0,)
    default_init = "he_normal"

    def __init__(self, slope: float = 0.01) -> None:
        if not (isinstance(slope, (int, float)) and math.isfinite(slope)):
            raise ConfigError(f"leaky_relu slope must be a finite number, got {slope!r}")
        self.slope = float(slope)

    def forward(self, z):
        return np.where(z > 0, z, self.slope * z)

    def backward(self, z, a, grad_a):
        return grad_a * np.where(z > 0, 1.0, self.slope).astype(grad_a.dtype, copy=False)

    def config(self):
        return {"slope": self.slope}


@register
class ELU(ActivationFunction):
    """``f(z) = z if z > 0 else alpha (exp(z) - 1)``;  ``f'(z) = 1 if z > 0 else a + alpha``."""

    name = "elu"
    kinks = (0.0,)
    default_init = "he_normal"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def backward(self, z, a, grad_a):
        return grad_a * np.where(z > 0, 1.0, a + self.alpha)

    def config(self):
        return {"alpha": self.alpha}


@register
class SELU(ActivationFunction):
    """``f(z) = scale * (z if z > 0 else alpha (exp(z) - 1))``;
    ``f'(z) = scale if z > 0 else a + scale * alpha``.  Constants from Klambauer et al. (2017)."""

    name = "selu"
    kinks = (0.0,)
    default_init = "lecun_normal"
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def forward(self, z):
        return self.scale * np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def backward(self, z, a, grad_a):
        return grad_a * np.where(z > 0, self.scale, a + self.scale * self.alpha)


@register
class Softplus(ActivationFunction):
    """``f(z) = log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))``;  ``f'(z) = sigmoid(z)``."""

    name = "softplus"
    default_init = "he_normal"

    def forward(self, z):
        return _softplus(z)

    def backward(self, z, a, grad_a):
        return grad_a * _sigmoid(z)


@register
class Softsign(ActivationFunction):
    """``f(z) = z / (1 + |z|)``;  ``f'(z) = 1 / (1 + |z|)^2 = (1 - |a|)^2``."""

    name = "softsign"
    kinks = (0.0,)  # f'' jumps at 0
    unsaturated_range = (-0.99, 0.99)

    def forward(self, z):
        return z / (1 + np.abs(z))

    def backward(self, z, a, grad_a):
        return grad_a * (1 - np.abs(a)) ** 2


_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@register
class GELU(ActivationFunction):
    """Exact GELU ``f(z) = z Phi(z)``, ``Phi(z) = (1 + erf(z / sqrt 2)) / 2``;
    ``f'(z) = Phi(z) + z phi(z)`` with the normal density ``phi(z) = exp(-z^2/2) / sqrt(2 pi)``."""

    name = "gelu"
    default_init = "he_normal"

    def forward(self, z):
        return z * (0.5 * (1.0 + _erf(z / _SQRT_2))).astype(z.dtype, copy=False)

    def backward(self, z, a, grad_a):
        cdf = (0.5 * (1.0 + _erf(z / _SQRT_2))).astype(z.dtype, copy=False)
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
        return grad_a * (cdf + z * pdf)


@register
class GELUTanh(ActivationFunction):
    """Tanh-approximate GELU ``f(z) = z (1 + t) / 2``, ``t = tanh(u)``,
    ``u = sqrt(2/pi) (z + 0.044715 z^3)``;
    ``f'(z) = (1 + t)/2 + z (1 - t^2) u'(z) / 2`` with ``u' = sqrt(2/pi) (1 + 3 * 0.044715 z^2)``."""

    name = "gelu_tanh"
    default_init = "he_normal"
    _c = 0.044715

    def forward(self, z):
        return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + self._c * z**3)))

    def backward(self, z, a, grad_a):
        t = np.tanh(_SQRT_2_OVER_PI * (z + self._c * z**3))
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * self._c * z * z)
        return grad_a * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du)


@register
class SiLU(ActivationFunction):
    """SiLU ``f(z) = z sigmoid(z)``;  ``f'(z) = s + z s (1 - s) = s (1 + z (1 - s))`` with ``s = sigmoid(z)``."""

    name = "silu"
    default_init = "he_normal"

    def forward(self, z):
        return z * _sigmoid(z)

    def backward(self, z, a, grad_a):
        s = _sigmoid(z)
        return grad_a * (s * (1 + z * (1 - s)))


@register
class Swish(ActivationFunction):
    """Swish ``f(z) = z sigmoid(beta z)`` (``beta = 1`` is SiLU);
    ``f'(z) = s + beta z s (1 - s)`` with ``s = sigmoid(beta z)``."""

    name = "swish"
    default_init = "he_normal"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = float(beta)

    def forward(self, z):
        return z * _sigmoid(self.beta * z)

    def backward(self, z, a, grad_a):
        s = _sigmoid(self.beta * z)
        return grad_a * (s + self.beta * z * s * (1 - s))

    def config(self):
        return {"beta": self.beta}


@register
class Mish(ActivationFunction):
    """Mish ``f(z) = z tanh(softplus(z))``;
    ``f'(z) = tanh(sp) + z (1 - tanh(sp)^2) sigmoid(z)`` with ``sp = softplus(z)``."""

    name = "mish"
    default_init = "he_normal"

    def forward(self, z):
        return z * np.tanh(_softplus(z))

    def backward(self, z, a, grad_a):
        t = np.tanh(_softplus(z))
        return grad_a * (t + z * (1 - t * t) * _sigmoid(z))


@register
class HardTanh(ActivationFunction):
    """``f(z) = clip(z, min_val, max_val)``;  ``f'(z) = [min_val < z < max_val]``."""

    name = "hard_tanh"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        if not min_val < max_val:
            raise ConfigError(f"hard_tanh needs min_val < max_val, got {min_val} and {max_val}")
        self.min_val, self.max_val = float(min_val), float(max_val)

    @property
    def kinks(self) -> tuple[float, ...]:  # type: ignore[override]
        return (self.min_val, self.max_val)

    @property
    def unsaturated_range(self) -> tuple[float, float]:  # type: ignore[override]
        return (self.min_val + 1e-6, self.max_val - 1e-6)

    def forward(self, z):
        return np.clip(z, self.min_val, self.max_val)

    def backward(self, z, a, grad_a):
        return grad_a * ((z > self.min_val) & (z < self.max_val))

    def config(self):
        return {"min_val": self.min_val, "max_val": self.max_val}


@register
class HardSigmoid(ActivationFunction):
    """``f(z) = clip(z / 6 + 1/2, 0, 1)`` (PyTorch's definition);  ``f'(z) = 1/6`` on (-3, 3), else 0."""

    name = "hard_sigmoid"
    kinks = (-3.0, 3.0)
    unsaturated_range = (1e-6, 1 - 1e-6)

    def forward(self, z):
        return np.clip(z / 6 + 0.5, 0, 1)

    def backward(self, z, a, grad_a):
        return grad_a * (((z > -3) & (z < 3)) / 6).astype(grad_a.dtype, copy=False)


def get_activation(spec: str | ActivationFunction, **kwargs: Any) -> ActivationFunction:
    """Return an activation instance from a registered name (with constructor kwargs) or an instance."""
    return build(ACTIVATIONS, "activation", spec, ActivationFunction, kwargs)
