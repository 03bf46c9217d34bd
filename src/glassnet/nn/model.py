"""The model: a :class:`Sequential` stack of layers and the :func:`mlp` builder.

::

    model = mlp([784, 256, 10], activation="relu", rng=np.random.default_rng(0))
    logits, backprop = model.forward(X)            # X : (n, 784) -> (n, 10)
    value, grad_logits = SoftmaxCrossEntropy()(logits, y)
    backprop(grad_logits)                          # fills model.grads()
    model.params()["0.W"]                          # (784, 256), updated in place by an optimizer

Parameters are named ``"<layer index>.<name>"`` (``"0.W"``, ``"0.b"``,
``"2.W"``, ...), like PyTorch's ``nn.Sequential``.  ``params()`` and
``grads()`` return dicts of the *live* arrays: an optimizer updates them in
place, and each backward overwrites the gradient arrays.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from glassnet.core.activations import ActivationFunction, get_activation
from glassnet.errors import ConfigError, DataError, NonFiniteError, ShapeError
from glassnet.nn.layers import Activation, Backprop, Dense, Dropout, Layer, LogSoftmax, Softmax, check_protocol, run_forward
from glassnet.nn.norm import NORMS
from glassnet.core.numerics import sigmoid, softmax

__all__ = ["Sequential", "mlp", "as_generator"]


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """An explicit generator from a Generator or an integer seed (``None`` means seed 0).

    glassnet never touches numpy's global random state; an integer is only a
    shorthand for ``np.random.default_rng(seed)``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ConfigError(f"rng must be an np.random.Generator or an integer seed, got {type(rng).__name__}")


class Sequential:
    """Layers applied in order; ``forward`` returns the output and a backward closure.

    ``Sequential(layers, rng=..., dtype=np.float32)`` initialises every layer
    that has no parameters yet; a ``Dense`` with ``init="auto"`` gets the
    initialiser that suits the activation that follows it.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        rng: np.random.Generator | int | None = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        self.layers: list[Layer] = list(layers)
        if not self.layers:
            raise ConfigError("a Sequential model needs at least one layer")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype}")
        gen = as_generator(rng)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"layer {i} is a {type(layer).__name__}, not a glassnet Layer")
            check_protocol(layer, f"layer {i} ({type(layer).__name__}): ")
            if not layer.initialized:
                layer.initialize(gen, self.dtype, next_activation=self._next_activation(i))
            elif any(a.dtype != self.dtype for a in (*layer.params.values(), *getattr(layer, "state", {}).values())):
                layer.astype(self.dtype)
        self._check_widths()
        #: optional metadata carried with the model (class names, preprocessing); JSON-serialisable.
        self.meta: dict[str, Any] = {}

    # ------------------------------------------------------------------ structure
    def _next_activation(self, i: int) -> str | None:
        for layer in self.layers[i + 1 :]:
            if isinstance(layer, Activation):
                return layer.fn.name
            if isinstance(layer, Dense):
                return None
        return None

    def _check_widths(self) -> None:
        """Every layer that needs a width (Dense, BatchNorm, ...) gets it from the layer before."""
        width = None
        for i, layer in enumerate(self.layers):
            need = layer.input_width()
            if need is not None:
                if width is not None and need != width:
                    raise ShapeError(
                        f"layer {i} ({layer.describe()}) takes {need} inputs but the layer before it gives {width}"
                    )
                width = need
            if width is not None:
                width = layer.output_width(width)

    @property
    def n_inputs(self) -> int | None:
        for layer in self.layers:
            if layer.input_width() is not None:
                return layer.input_width()
        return None

    @property
    def n_outputs(self) -> int | None:
        width = None
        for layer in self.layers:
            if isinstance(layer, Dense):
                width = layer.n_out
        return width

    @property
    def output_kind(self) -> str:
        """"probs" after a Softmax layer, "log_probs" after a LogSoftmax, otherwise "logits"."""
        last = self.layers[-1]
        return "probs" if isinstance(last, Softmax) else "log_probs" if isinstance(last, LogSoftmax) else "logits"

    def params(self) -> dict[str, np.ndarray]:
        """``{"<i>.<name>": array}`` of the live parameter arrays, in layer order."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def grads(self) -> dict[str, np.ndarray]:
        """The gradient arrays, same keys and shapes as :meth:`params`, as of the last backward."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def state(self) -> dict[str, np.ndarray]:
        """``{"<i>.<name>": array}`` of the live state arrays (BatchNorm's running statistics), in layer order.

        State is not a parameter: optimizers, L2 and gradients never see it; a
        training forward updates it; model files and checkpoints save it.
        """
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in getattr(layer, "state", {}).items()}

    @property
    def uses_batch_statistics(self) -> bool:
        """True when a layer's training forward mixes the samples of a batch (BatchNorm)."""
        return any(getattr(layer, "batch_statistics", False) for layer in self.layers)

    def weight_names(self) -> list[str]:
        """Names of the weight matrices (what L2 regularises; biases are excluded)."""
        return [f"{i}.W" for i, layer in enumerate(self.layers) if isinstance(layer, Dense)]

    def n_params(self) -> int:
        return sum(p.size for p in self.params().values())

    def set_params(self, values: dict[str, np.ndarray]) -> None:
        """Copy ``values`` into the live parameter arrays (shapes must match exactly)."""
        _copy_into(self.params(), values, "parameter")

    def set_state(self, values: dict[str, np.ndarray]) -> None:
        """Copy ``values`` into the live state arrays (names and shapes as :meth:`state`)."""
        _copy_into(self.state(), values, "state")

    def astype(self, dtype: np.dtype | type) -> "Sequential":
        """A deep copy of the model with every parameter in ``dtype``."""
        clone = copy.deepcopy(self)
        clone.dtype = np.dtype(dtype)
        for layer in clone.layers:
            layer.astype(clone.dtype)
        return clone

    def copy(self) -> "Sequential":
        return copy.deepcopy(self)

    def describe(self) -> str:
        return " -> ".join(layer.describe() for layer in self.layers)

    def __repr__(self) -> str:
        return f"Sequential({self.describe()}, dtype={self.dtype.name})"

    # ------------------------------------------------------------------ compute
    def check_input(self, X: np.ndarray) -> np.ndarray:
        """Validate features and cast them to the model's dtype.

        Raises :class:`ShapeError` naming the first layer for a wrong width and
        :class:`DataError` for non-numeric data or NaN/inf (naming the rows).
        """
        try:
            X = np.asarray(X)
        except ValueError:  # ragged nested lists
            raise DataError(
                f"features must be a rectangular array (n_samples, n_features); numpy could not make one of "
                f"the {type(X).__name__} given (rows of different lengths?)"
            ) from None
        if X.dtype.kind not in "biuf":
            raise DataError(f"features must be numeric (an int or float array), got an array of dtype {X.dtype}")
        if X.ndim != 2:
            raise ShapeError(f"features must be a 2-D array (n_samples, n_features), got shape {X.shape}")
        if X.shape[0] == 0:
            raise DataError(f"no samples: the feature array is empty (shape {X.shape})")
        n_in = self.n_inputs
        if n_in is not None and X.shape[1] != n_in:
            first = next(i for i, layer in enumerate(self.layers) if layer.input_width() is not None)
            raise ShapeError(
                f"layer {first} ({self.layers[first].describe()}) expects input of shape (n, {n_in}), got {X.shape}"
            )
        X = X.astype(self.dtype, copy=False)
        if X.dtype.kind == "f":
            bad = ~np.isfinite(X).all(axis=1)
            if bad.any():
                rows = np.flatnonzero(bad)
                raise DataError(
                    f"features contain NaN or inf in {rows.size} row(s), first rows: {rows[:5].tolist()}"
                )
        return X

    def forward(
        self,
        X: np.ndarray,
        *,
        training: bool = False,
        rng: np.random.Generator | None = None,
        capture: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, Backprop]:
        """Run every layer; return the output and a closure that backpropagates through all of them.

        ``X : (n, n_in)`` in the model's dtype (use :meth:`check_input` for
        untrusted data).  ``capture``, if a list, receives each layer's output
        in order (for diagnostics).  ``backprop(grad_out, need_input_grad=False)``
        fills every layer's ``grads`` and returns ``dL/dX`` when asked.
        """
        backprops: list[Backprop] = []
        out = X
        for i, layer in enumerate(self.layers):
            out, bp = run_forward(layer, out, training=training, rng=rng, where=f"layer {i}: ")
            backprops.append(bp)
            if capture is not None:
                capture.append(out)

        def backprop(grad_out: np.ndarray, need_input_grad: bool = False) -> np.ndarray | None:
            grad = grad_out
            for i in range(len(backprops) - 1, -1, -1):
                grad = backprops[i](grad, need_input_grad=need_input_grad or i > 0)
            return grad

        return out, backprop

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)[0]

    def predict_proba(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Class probabilities ``(n, k)``: softmax of the logits (or the Softmax layer's output);
        for a single output column, ``(n, 2)`` from the sigmoid.

        Raises :class:`NonFiniteError` when an output is NaN or infinite (NaN
        or infinite weights, or an overflow), instead of answering class 0 for
        every such sample."""
        X = self.check_input(X)
        chunks = []
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, not as numpy warnings
            for start in range(0, X.shape[0], batch_size):
                out = self(X[start : start + batch_size])
                if self.output_kind == "probs":
                    chunks.append(out)
                elif self.output_kind == "log_probs":
                    chunks.append(np.exp(out))
                elif out.shape[1] == 1:
                    p = sigmoid(out)
                    chunks.append(np.hstack([1 - p, p]))
                else:
                    chunks.append(softmax(out))
        probs = np.concatenate(chunks)
        bad_rows = np.flatnonzero(~np.isfinite(probs).all(axis=1))
        if bad_rows.size:
            broken = [name for name, p in self.params().items() if not np.isfinite(p).all()]
            cause = (f"the parameter(s) {', '.join(broken)} hold NaN or inf" if broken
                     else "a layer overflowed (the weights or the inputs are too large)")
            raise NonFiniteError(
                f"the model's outputs are NaN or infinite for {bad_rows.size} of {probs.shape[0]} samples "
                f"(first rows: {bad_rows[:5].tolist()}): {cause}; there is no meaningful prediction"
            )
        return probs

    def predict(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Predicted class indices ``(n,)`` (argmax of :meth:`predict_proba`)."""
        return np.argmax(self.predict_proba(X, batch_size), axis=1)


def _copy_into(live: dict[str, np.ndarray], values: dict[str, np.ndarray], what: str) -> None:
    """Copy ``values`` into the ``live`` arrays; the names and shapes must match exactly."""
    missing = set(live) - set(values)
    extra = set(values) - set(live)
    if missing or extra:
        raise ShapeError(f"{what} names differ: missing {sorted(missing)}, unexpected {sorted(extra)}")
    for name, value in values.items():
        if live[name].shape != np.shape(value):
            raise ShapeError(f"{what} {name} has shape {live[name].shape}, got {np.shape(value)}")
        live[name][...] = value


def mlp(
    sizes: Sequence[int],
    activation: str | ActivationFunction | Sequence[str | ActivationFunction] = "relu",
    *,
    dropout: float = 0.0,
    norm: str | None = None,
    output: str = "logits",
    init: str = "auto",
    rng: np.random.Generator | int | None = None,
    dtype: np.dtype | type = np.float32,
) -> Sequential:
    """Build ``Dense [-> norm] -> activation [-> Dropout]`` for each hidden size, then a final Dense.

    ``sizes = [n_in, h1, ..., n_out]``; e.g. ``mlp([784, 256, 128, 10])``.
    ``activation`` is one activation for every hidden layer, or one per hidden layer
    (``mlp([784, 256, 128, 10], ["relu", "tanh"])``; the string ``"relu,tanh"`` too).
    ``norm="batch"`` or ``"layer"`` puts a :class:`~glassnet.nn.norm.BatchNorm`
    or :class:`~glassnet.nn.norm.LayerNorm` between each hidden Dense and its
    activation (where the original batch-normalisation paper puts it);
    ``None`` or ``"none"`` leaves it out.
    ``output="logits"`` ends with the last Dense (pair it with
    ``SoftmaxCrossEntropy``); ``output="log_softmax"`` appends a ``LogSoftmax``
    layer (pair it with ``NLLLoss``); ``output="softmax"`` appends a ``Softmax`` layer
    (pair it with ``CrossEntropy``).
    """
    if isinstance(sizes, (str, bytes)):
        raise ConfigError(f"sizes must be a list of integers such as [784, 256, 10], got the string {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ConfigError(f"mlp needs at least input and output sizes [n_in, ..., n_out], got {sizes}")
    for i, s in enumerate(sizes):
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1:
            role = "the input size" if i == 0 else "the output size" if i == len(sizes) - 1 else f"hidden layer {i}"
            raise ConfigError(f"layer sizes must be positive integers; {role} is {s!r} in {sizes}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating)) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout rate must be a number in [0, 1), got {dropout!r}")
    if output not in ("logits", "softmax", "log_softmax"):
        raise ConfigError(f"output must be 'logits', 'softmax' or 'log_softmax', got {output!r}")
    if norm is not None and norm != "none" and norm not in NORMS:
        raise ConfigError(f"norm must be one of {', '.join(['none', *NORMS])}, got {norm!r}")
    norm_layer = NORMS.get(norm) if isinstance(norm, str) else None
    acts = _per_layer(activation, len(sizes) - 2)
    layers: list[Layer] = []
    for (n_in, n_out), act in zip(zip(sizes[:-2], sizes[1:-1]), acts):
        layers.append(Dense(n_in, n_out, init=init))
        if norm_layer is not None:
            layers.append(norm_layer(n_out))
        layers.append(Activation(copy.deepcopy(act)))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(sizes[-2], sizes[-1], init=init))
    if output == "softmax":
        layers.append(Softmax())
    elif output == "log_softmax":
        layers.append(LogSoftmax())
    return Sequential(layers, rng=rng, dtype=dtype)


def _per_layer(activation: Any, n_hidden: int) -> list[ActivationFunction]:
    """One activation per hidden layer from one activation, a sequence, or a comma-separated string."""
    if isinstance(activation, str) and "," in activation:
        activation = [a.strip() for a in activation.split(",")]
    if isinstance(activation, (list, tuple)):
        if len(activation) != n_hidden:
            raise ConfigError(f"{len(activation)} activations {list(map(str, activation))} for {n_hidden} hidden "
                              f"layer(s): give one for all, or one per hidden layer")
        return [get_activation(a) for a in activation]
    return [get_activation(activation)] * n_hidden
