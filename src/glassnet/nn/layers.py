"""Layers: a forward that returns its output *and* the backward closure.

The protocol (after thinc)::

    Y, backprop = layer.forward(X, training=False, rng=None)
    grad_X = backprop(grad_Y)                  # fills layer.grads, returns dL/dX
    backprop(grad_Y, need_input_grad=False)    # returns None, skips the dL/dX matmul

* ``X : (n_samples, n_in)`` and ``Y : (n_samples, n_out)``.
* ``layer.params`` and ``layer.grads`` are dicts of arrays with the same keys
  and shapes.  ``backprop`` *overwrites* ``grads`` (it never accumulates), so
  there is nothing to zero between steps.
* ``layer.state`` holds arrays that are neither parameters nor gradients: the
  running statistics of :class:`~glassnet.nn.norm.BatchNorm`, updated by a
  training forward.  Model files and checkpoints save them; optimizers and L2
  never see them.
* The closure holds exactly the arrays the derivative needs (Dense keeps X,
  Activation keeps z and f(z), Softmax keeps p); nothing is cached on the
  layer, so two forwards in flight never clobber each other.

Writing your own layer: subclass :class:`Layer`, fill ``params``/``grads``
(or leave them empty), implement ``forward`` returning ``(Y, backprop)``, and
check it with ``glassnet.check.gradcheck.check_layer(layer, input_shape)``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Protocol

import numpy as np

from glassnet.core.activations import ActivationFunction, get_activation
from glassnet.core.registry import adder, lookup
from glassnet.errors import ConfigError, ShapeError
from glassnet.core.init import get_initializer
from glassnet.core.numerics import log_softmax, softmax, softmax_vjp

__all__ = [
    "Backprop",
    "Layer",
    "Dense",
    "Activation",
    "Softmax",
    "LogSoftmax",
    "Dropout",
    "LAYERS",
    "register_layer",
    "layer_from_config",
]


class Backprop(Protocol):
    def __call__(self, grad_out: np.ndarray, need_input_grad: bool = True) -> Optional[np.ndarray]: ...


#: type name -> layer class; the saved-model format and the registry-wide tests read it.
LAYERS: dict[str, type[Layer]] = {}


#: class decorator: registers a layer under its class name (the name saved in model files); refuses duplicates.
register_layer = adder(LAYERS, "layer type", key=lambda cls: cls.__name__)


def check_protocol(layer: Any, where: str = "") -> None:
    """A one-line error when ``layer`` breaks the :class:`Layer` protocol in a way that would otherwise be a
    raw traceback deep inside glassnet: an ``__init__`` that never called ``super().__init__()``."""
    missing = [name for name in ("params", "grads", "state") if not isinstance(getattr(layer, name, None), dict)]
    if missing:
        raise ConfigError(f"{where}{type(layer).__name__} has no {', '.join(missing)}: its __init__ must call "
                          "super().__init__() before setting its own attributes (docs/custom-layers.md)")


def run_forward(layer: "Layer", X: np.ndarray, *, training: bool = False, rng: np.random.Generator | None = None,
                where: str = "") -> tuple[np.ndarray, "Backprop"]:
    """``layer.forward(X)``, checked: it must return the pair ``(Y, backprop)``."""
    result = layer.forward(X, training=training, rng=rng)
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[1])):
        got = (f"a tuple of {len(result)}" if isinstance(result, tuple) else
               f"a {type(result).__name__}" + (f" of shape {result.shape}" if hasattr(result, "shape") else ""))
        raise ConfigError(f"{where}{type(layer).__name__}.forward must return (Y, backprop): the output and the "
                          f"closure that computes the input gradient; it returned {got} (docs/custom-layers.md)")
    return result


class Layer:
    """Base class.  Subclasses set ``params``/``grads`` and implement ``forward``."""

    #: True for layers whose forward differs between training and inference (Dropout).
    stochastic: ClassVar[bool] = False
    #: True for layers whose training forward mixes the samples of a batch (BatchNorm): they need
    #: at least 2 samples per training batch, and a gradient check treats the batch as one function.
    batch_statistics: ClassVar[bool] = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: non-trainable arrays a training forward updates (running statistics); saved, never optimised.
        self.state: dict[str, np.ndarray] = {}

    def forward(
        self, X: np.ndarray, *, training: bool = False, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, Backprop]:
        raise NotImplementedError

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Inference: ``layer(X)`` is ``layer.forward(X)[0]``."""
        return self.forward(X)[0]

    def initialize(self, rng: np.random.Generator, dtype: np.dtype | type = np.float32, next_activation: str | None = None) -> None:
        """Create (or re-create) the parameters.  Layers without parameters only record the dtype."""

    @property
    def initialized(self) -> bool:
        return True

    def output_width(self, n_in: int) -> int:
        """Width of the output for an input of width ``n_in``."""
        return n_in

    def input_width(self) -> int | None:
        """The input width this layer requires, or None when it takes any width."""
        return None

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments."""
        return {}

    def describe(self) -> str:
        return type(self).__name__

    def astype(self, dtype: np.dtype | type) -> None:
        """Cast parameters, gradient buffers and state to ``dtype`` in place of the old arrays."""
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.state = {k: v.astype(dtype) for k, v in getattr(self, "state", {}).items()}


@register_layer
class Dense(Layer):
    """Fully connected layer ``Y = X W + b``.

    Shapes: ``X : (n, n_in)``, ``W : (n_in, n_out)``, ``b : (n_out,)``, ``Y : (n, n_out)``.

    Backward, for an upstream gradient ``G = dL/dY : (n, n_out)``::

        dL/dW = X^T G        (n_in, n_out)
        dL/db = sum_rows G   (n_out,)
        dL/dX = G W^T        (n, n_in)

    ``init="auto"`` lets the enclosing :class:`~glassnet.nn.model.Sequential`
    pick the initialiser that suits the activation after this layer (He for
    the relu family, Glorot for tanh/sigmoid, LeCun for selu).
    """

    def __init__(self, n_in: int, n_out: int, *, init: str = "auto") -> None:
        super().__init__()
        for what, value in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"Dense {what} must be a positive integer, got {value!r}")
        if init != "auto":
            get_initializer(init)  # fail early on an unknown name
        self.n_in, self.n_out, self.init = int(n_in), int(n_out), init

    @property
    def initialized(self) -> bool:
        return "W" in self.params

    def initialize(self, rng, dtype=np.float32, next_activation=None):
        name = self.init
        if name == "auto":
            name = get_activation(next_activation).default_init if next_activation else "glorot_uniform"
        W = get_initializer(name)((self.n_in, self.n_out), rng, np.dtype(dtype))
        self.params = {"W": W, "b": np.zeros(self.n_out, dtype=dtype)}
        self.grads = {"W": np.zeros_like(W), "b": np.zeros(self.n_out, dtype=dtype)}

    def output_width(self, n_in):
        return self.n_out

    def input_width(self):
        return self.n_in

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}

    def describe(self):
        return f"Dense({self.n_in}->{self.n_out})"

    def forward(self, X, *, training=False, rng=None):
        if not self.initialized:
            raise ConfigError(f"{self.describe()} has no weights yet: call initialize(rng) or put it in a Sequential")
        if X.ndim != 2 or X.shape[1] != self.n_in:
            raise ShapeError(f"{self.describe()} expects input of shape (n, {self.n_in}), got {X.shape}")
        W, b = self.params["W"], self.params["b"]
        Y = X @ W
        Y += b

        def backprop(grad_Y, need_input_grad=True):
            np.matmul(X.T, grad_Y, out=self.grads["W"])
            np.sum(grad_Y, axis=0, out=self.grads["b"])
            return grad_Y @ W.T if need_input_grad else None

        return Y, backprop


@register_layer
class Activation(Layer):
    """Element-wise activation layer ``A = f(Z)``; backward ``dL/dZ = dL/dA * f'(Z)``.

    ``Activation("relu")``, ``Activation("leaky_relu", slope=0.1)`` or
    ``Activation(LeakyReLU(0.1))``.  Shapes are kept: ``Z, A : (n, width)``.
    """

    def __init__(self, fn: str | ActivationFunction, **kwargs: Any) -> None:
        super().__init__()
        self.fn = get_activation(fn, **kwargs)

    @property
    def name(self) -> str:
        return self.fn.name

    def config(self):
        return {"fn": self.fn.name, **self.fn.config()}

    def describe(self):
        return f"Activation({self.fn.name})"

    def forward(self, X, *, training=False, rng=None):
        fn = self.fn
        A = fn.forward(X)

        def backprop(grad_A, need_input_grad=True):
            return fn.backward(X, A, grad_A)

        return A, backprop


@register_layer
class Softmax(Layer):
    """Softmax over classes as a layer of its own (the *unfused* path).

    ``P = softmax(Z)``, ``Z, P : (n, n_classes)``.  Its derivative is the
    full Jacobian ``Diag(p) - p p^T`` per row; the backward applies it as the
    O(n k) vector-Jacobian product ``dL/dZ = p * (g - sum(g * p))``
    (:func:`glassnet.core.numerics.softmax_vjp`), never the element-wise
    ``p (1 - p)``.  Pair it with :class:`glassnet.nn.losses.CrossEntropy`; for
    training prefer logits with the fused
    :class:`glassnet.nn.losses.SoftmaxCrossEntropy`, which is stabler.
    """

    def forward(self, X, *, training=False, rng=None):
        P = softmax(X)

        def backprop(grad_P, need_input_grad=True):
            return softmax_vjp(P, grad_P)

        return P, backprop


@register_layer
class LogSoftmax(Layer):
    """``L = log_softmax(Z) = Z - logsumexp(Z)`` over classes; ``Z, L : (n, n_classes)``.

    Backward: ``dL/dZ = g - softmax(Z) * sum(g)`` per row (the Jacobian of
    ``z - logsumexp(z)`` is ``I - 1 p^T``).  Pair it with
    :class:`glassnet.nn.losses.NLLLoss`; together they equal the fused
    :class:`~glassnet.nn.losses.SoftmaxCrossEntropy`.
    """

    def forward(self, X, *, training=False, rng=None):
        L = log_softmax(X)

        def backprop(grad_L, need_input_grad=True):
            return grad_L - np.exp(L) * np.sum(grad_L, axis=-1, keepdims=True)

        return L, backprop


@register_layer
class Dropout(Layer):
    """Inverted dropout: in training ``Y = X * M / (1 - rate)`` with ``M ~ Bernoulli(1 - rate)``;
    at inference ``Y = X``.  Backward ``dL/dX = dL/dY * M / (1 - rate)``.

    Scaling by ``1/(1 - rate)`` while training keeps ``E[Y] = X``, so nothing
    changes at inference.  The mask is drawn from the ``rng`` passed to
    ``forward`` (an ``np.random.Generator``); training without one is an error.
    """

    stochastic = True

    def __init__(self, rate: float = 0.5) -> None:
        super().__init__()
        if not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
            raise ConfigError(f"Dropout rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def config(self):
        return {"rate": self.rate}

    def describe(self):
        return f"Dropout({self.rate})"

    def forward(self, X, *, training=False, rng=None):
        if not training or self.rate == 0.0:
            return X, lambda grad_Y, need_input_grad=True: grad_Y
        if rng is None:
            raise ConfigError("Dropout in training mode needs an explicit rng (np.random.Generator)")
        keep = 1.0 - self.rate
        mask = (rng.random(X.shape, dtype=np.float32 if X.dtype == np.float32 else np.float64) < keep)
        scale = (mask / keep).astype(X.dtype, copy=False)
        Y = X * scale

        def backprop(grad_Y, need_input_grad=True):
            return grad_Y * scale

        return Y, backprop


def layer_from_config(type_name: str, config: dict[str, Any]) -> Layer:
    """Rebuild a layer from its registered type name and :meth:`Layer.config`."""
    cls = lookup(LAYERS, "layer type", type_name)
    if cls is Activation:
        config = dict(config)
        return Activation(config.pop("fn"), **config)
    return cls(**config)
