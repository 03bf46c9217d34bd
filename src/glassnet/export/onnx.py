"""Export a glassnet model to ONNX, to be served by ONNX Runtime or any other ONNX engine.

::

    export_onnx(model, "model.onnx")             # glassnet export model.npz --format onnx -o model.onnx
    # onnxruntime.InferenceSession("model.onnx").run(None, {"features": X_raw})
    #   -> [probabilities (n, k), label (n,)]

The graph (opset :data:`OPSET`) computes what ``model.predict_proba(scaled(X))`` computes:

``features : (n, n_features)``
    the *raw* inputs, flattened (MNIST: the 784 pixel values 0..255), in the
    model's dtype.  The model's saved input scaling ``x' = x * scale + shift``
    (:class:`glassnet.data.preprocess.Scaler`) is the graph's first ``Mul`` and
    ``Add``, computed in the scaler's dtype as glassnet does.
``Dense``
    ``Gemm(X, W, b)``: ``Y = X W + b`` with ``W : (n_in, n_out)`` as stored.
``Activation``
    the operator(s) of :data:`ONNX_ACTIVATIONS`: one ONNX operator where ONNX
    has it (``Relu``, ``Tanh``, ``Elu``, ``Selu``, ``Softplus``, ``HardSigmoid``,
    ...), composed from primitives where it has not in opset 17 (``gelu =
    x (1 + erf(x / sqrt 2)) / 2``, ``silu = x sigmoid(x)``, ``mish = x
    tanh(softplus(x))``, ...).  An activation without an entry is refused with
    a :class:`~glassnet.errors.ConfigError`.
``Dropout``
    nothing: inference.
``BatchNorm``, ``LayerNorm``
    ``BatchNormalization`` with the saved running statistics (inference) and
    ``LayerNormalization`` over the last axis; ``gamma = 1``, ``beta = 0``
    when the layer has no affine parameters.
the output
    ``probabilities : (n, k)``, the model's output made into probabilities as
    :meth:`~glassnet.nn.model.Sequential.predict_proba` does (``Softmax`` of
    logits, ``Exp`` after a ``LogSoftmax``, ``[1 - p, p]`` with ``p =
    Sigmoid(z)`` for a single output), and ``label : (n,)``, its ``ArgMax``
    (int64).  Class names, the architecture and the glassnet version are in
    the model's ``metadata_props``.

The file passes ``onnx.checker.check_model(model, full_check=True)`` before
it is written (atomically).  Needs the ``onnx`` package (``pip install
"glassnet[onnx]"``); onnxruntime is needed only to run the result.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable

import numpy as np

from glassnet import __version__
from glassnet.core.activations import ActivationFunction
from glassnet.data.preprocess import scaler_from_dict
from glassnet.errors import ConfigError
from glassnet.io.serialize import atomic_write
from glassnet.nn.layers import Activation, Dense, Dropout, LogSoftmax, Softmax
from glassnet.nn.model import Sequential
from glassnet.nn.norm import BatchNorm, LayerNorm

__all__ = ["OPSET", "IR_VERSION", "ONNX_ACTIVATIONS", "onnx_activation", "to_onnx", "export_onnx"]

#: the ONNX operator set the graph uses (ONNX Runtime 1.13 and later run it).
OPSET = 17
#: the ONNX IR version written (8 is the one that goes with opset 17).
IR_VERSION = 8


class _Graph:
    """Nodes and constants of the graph being built; every value gets a fresh name."""

    def __init__(self, helper: Any, numpy_helper: Any, dtype: np.dtype) -> None:
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, np.dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        """Append one node; return the name of its output."""
        out = self._name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def const(self, value: Any, dtype: np.dtype | None = None, stem: str = "c") -> str:
        """A constant (initializer) of the graph's dtype unless ``dtype`` is given; returns its name."""
        name = self._name(stem)
        array = np.asarray(value, dtype=dtype or self.dtype)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name


#: activation name -> ``build(fn, graph, x) -> y`` appending the nodes of ``y = fn(x)`` element-wise.
ONNX_ACTIVATIONS: dict[str, Callable[[ActivationFunction, _Graph, str], str]] = {}


def onnx_activation(name: str):
    """Decorator: register the ONNX translation of the activation ``name`` in :data:`ONNX_ACTIVATIONS`."""

    def add(build: Callable[[ActivationFunction, _Graph, str], str]):
        if name in ONNX_ACTIVATIONS:
            raise ValueError(f"ONNX translation of {name!r} registered twice")
        ONNX_ACTIVATIONS[name] = build
        return build

    return add


def _single(op_type: str, **fixed: Any) -> Callable[[ActivationFunction, _Graph, str], str]:
    return lambda fn, g, x: g.op(op_type, x, **fixed)


for _name, _op in (("identity", "Identity"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("relu", "Relu"),
                   ("softplus", "Softplus"), ("softsign", "Softsign")):
    onnx_activation(_name)(_single(_op))


@onnx_activation("leaky_relu")
def _leaky_relu(fn, g, x):
    return g.op("LeakyRelu", x, alpha=fn.slope)


@onnx_activation("elu")
def _elu(fn, g, x):
    return g.op("Elu", x, alpha=fn.alpha)


@onnx_activation("selu")
def _selu(fn, g, x):
    return g.op("Selu", x, alpha=fn.alpha, gamma=fn.scale)


@onnx_activation("hard_sigmoid")
def _hard_sigmoid(fn, g, x):
    """``clip(x / 6 + 1/2, 0, 1)`` is ONNX's ``HardSigmoid`` with ``alpha = 1/6, beta = 1/2``."""
    return g.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5)


@onnx_activation("hard_tanh")
def _hard_tanh(fn, g, x):
    return g.op("Clip", x, g.const(fn.min_val), g.const(fn.max_val))


@onnx_activation("gelu")
def _gelu(fn, g, x):
    """``x * (1 + erf(x / sqrt 2)) / 2`` (ONNX has ``Gelu`` only from opset 20)."""
    cdf = g.op("Mul", g.op("Add", g.op("Erf", g.op("Div", x, g.const(math.sqrt(2.0)))), g.const(1.0)), g.const(0.5))
    return g.op("Mul", x, cdf)


@onnx_activation("gelu_tanh")
def _gelu_tanh(fn, g, x):
    """``x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2``."""
    cube = g.op("Mul", g.op("Mul", x, x), x)
    inner = g.op("Mul", g.op("Add", x, g.op("Mul", cube, g.const(fn._c))), g.const(math.sqrt(2.0 / math.pi)))
    return g.op("Mul", g.op("Mul", x, g.const(0.5)), g.op("Add", g.op("Tanh", inner), g.const(1.0)))


@onnx_activation("silu")
def _silu(fn, g, x):
    """``x sigmoid(x)``."""
    return g.op("Mul", x, g.op("Sigmoid", x))


@onnx_activation("swish")
def _swish(fn, g, x):
    """``x sigmoid(beta x)``."""
    return g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, g.const(fn.beta))))


@onnx_activation("mish")
def _mish(fn, g, x):
    """``x tanh(softplus(x))`` (ONNX has ``Mish`` only from opset 18)."""
    return g.op("Mul", x, g.op("Tanh", g.op("Softplus", x)))


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ConfigError('exporting to ONNX needs the onnx package: pip install "glassnet[onnx]"') from None
    return onnx, helper, numpy_helper


def _preprocess(g: _Graph, model: Sequential, x: str) -> str:
    """The saved input scaling as ``Cast``, ``Mul``, ``Add``, ``Cast`` (what Scaler.transform computes)."""
    prep = model.meta.get("preprocessing")
    if not prep:
        return x
    scaler = scaler_from_dict(prep)
    if scaler.n_features is not None and scaler.n_features != model.n_inputs:
        raise ConfigError(f"the saved scaling is for {scaler.n_features} features but the model takes {model.n_inputs}")
    scale, shift = scaler._affine()  # x * scale + shift in the scaler's dtype, as transform applies it
    cast = scaler.dtype != g.dtype
    if cast:
        x = g.op("Cast", x, to=g.helper.np_dtype_to_tensor_dtype(scaler.dtype))
    if scale is not None:
        x = g.op("Mul", x, g.const(scale, scaler.dtype, "scale"))
    if shift is not None:
        x = g.op("Add", x, g.const(shift, scaler.dtype, "shift"))
    if cast:
        x = g.op("Cast", x, to=g.helper.np_dtype_to_tensor_dtype(g.dtype))
    return x


def _layer(g: _Graph, i: int, layer: Any, x: str) -> str:
    if type(layer) is Dense:
        return g.op("Gemm", x, g.const(layer.params["W"], stem=f"W{i}"), g.const(layer.params["b"], stem=f"b{i}"))
    if type(layer) is Dropout:
        return x
    if type(layer) is Softmax:
        return g.op("Softmax", x, axis=-1)
    if type(layer) is LogSoftmax:
        return g.op("LogSoftmax", x, axis=-1)
    if type(layer) in (BatchNorm, LayerNorm):
        ones = np.ones(layer.n_features, dtype=g.dtype)
        gamma, beta = (layer.params["gamma"], layer.params["beta"]) if layer.affine else (ones, 0 * ones)
        inputs = [x, g.const(gamma, stem=f"gamma{i}"), g.const(beta, stem=f"beta{i}")]
        if type(layer) is LayerNorm:
            return g.op("LayerNormalization", *inputs, axis=-1, epsilon=layer.eps)
        stats = [g.const(layer.state[k], stem=f"{k}{i}") for k in ("running_mean", "running_var")]
        return g.op("BatchNormalization", *inputs, *stats, epsilon=layer.eps)
    if type(layer) is Activation:
        build = ONNX_ACTIVATIONS.get(layer.fn.name)
        if build is None:
            raise ConfigError(
                f"cannot export layer {i} ({layer.describe()}) to ONNX: it has no ONNX translation; "
                f"activations that export: {', '.join(sorted(ONNX_ACTIVATIONS))}"
            )
        return build(layer.fn, g, x)
    raise ConfigError(f"cannot export layer {i} ({type(layer).__name__}) to ONNX: "
                      "layers that export are Dense, Activation, Dropout, Softmax, LogSoftmax, BatchNorm, LayerNorm")


def _probabilities(g: _Graph, model: Sequential, out: str) -> str:
    """The output as class probabilities, as :meth:`Sequential.predict_proba` makes them."""
    kind = model.output_kind
    if kind == "probs":
        return out
    if kind == "log_probs":
        return g.op("Exp", out)
    if model.n_outputs == 1:
        p = g.op("Sigmoid", out)
        return g.op("Concat", g.op("Sub", g.const([[1.0]]), p), p, axis=1)
    return g.op("Softmax", out, axis=-1)


def to_onnx(model: Sequential) -> Any:
    """The ``onnx.ModelProto`` of ``model`` (see the module docstring), checked with ``full_check=True``.

    Raises :class:`ConfigError` for a layer or activation ONNX cannot express
    here, or when the ``onnx`` package is missing.
    """
    onnx, helper, numpy_helper = _import_onnx()
    if not isinstance(model, Sequential):
        raise ConfigError(f"to_onnx needs a glassnet Sequential, got {type(model).__name__}")
    if model.n_inputs is None:
        raise ConfigError("the model has no Dense layer, so its input width is unknown")
    g = _Graph(helper, numpy_helper, model.dtype)
    x = _preprocess(g, model, "features")
    for i, layer in enumerate(model.layers):
        x = _layer(g, i, layer, x)
    probs = _probabilities(g, model, x)
    g.nodes.append(helper.make_node("Identity", [probs], ["probabilities"], name="probabilities"))
    g.nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], name="label", axis=1, keepdims=0))
    n_classes = 2 if model.n_outputs == 1 and model.output_kind == "logits" else model.n_outputs
    elem = helper.np_dtype_to_tensor_dtype(model.dtype)
    graph = helper.make_graph(
        g.nodes, "glassnet",
        inputs=[helper.make_tensor_value_info("features", elem, ["n", model.n_inputs])],
        outputs=[helper.make_tensor_value_info("probabilities", elem, ["n", n_classes]),
                 helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["n"])],
        initializer=g.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="glassnet", producer_version=__version__,
                              doc_string=f"{model.describe()}; input: raw features, scaled inside the graph")
    props = {"architecture": model.describe(), "glassnet_version": __version__}
    if model.meta.get("class_names") is not None:
        props["class_names"] = json.dumps(model.meta["class_names"])
    helper.set_model_props(proto, props)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Sequential, path: str | os.PathLike) -> None:
    """Write :func:`to_onnx` of ``model`` atomically to ``path``."""
    data = to_onnx(model).SerializeToString()
    atomic_write(path, lambda f: f.write(data))
