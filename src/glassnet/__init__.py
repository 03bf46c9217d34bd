"""glassnet: neural-network classifiers with hand-written, readable, verified backpropagation.

Data flows one way: data -> model -> loss -> backward -> optimizer -> trainer -> report/CLI.
"""

from __future__ import annotations

__version__ = "0.1.0"

from glassnet.core.activations import ACTIVATIONS, ActivationFunction, get_activation
from glassnet.errors import (
    ConfigError,
    DataError,
    DatasetNotFoundError,
    DownloadError,
    FileFormatError,
    GlassnetError,
    GradcheckError,
    NonFiniteError,
    ShapeError,
)
from glassnet.core.init import INITIALIZERS, get_initializer
from glassnet.nn.layers import LAYERS, Activation, Dense, Dropout, Layer, LogSoftmax, Softmax
from glassnet.nn.norm import NORMS, BatchNorm, LayerNorm
from glassnet.nn.losses import (
    LOSSES,
    BinaryCrossEntropyWithLogits,
    CrossEntropy,
    Loss,
    MSELoss,
    NLLLoss,
    SoftmaxCrossEntropy,
    get_loss,
)
from glassnet.nn.model import Sequential, mlp
from glassnet.core.numerics import log_softmax, logsumexp, sigmoid, softmax, softmax_jacobian, softmax_vjp, softplus
from glassnet.nn.objective import l2_penalty, value_and_grad
from glassnet.check.gradcheck import GradcheckReport, check_layer, check_layers, check_loss, gradcheck
from glassnet.check.function import FunctionReport, UserFunctionError, check_function
from glassnet.check.watch import Watch
from glassnet.optim.optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Nesterov, RMSprop, apply_updates, get_optimizer
from glassnet.optim.schedules import SCHEDULES, get_schedule
from glassnet.train.loop import EarlyStopping, History, TrainState, fit
from glassnet.data.datasets import Dataset, load_dataset
from glassnet.data.preprocess import Scaler
from glassnet.io.serialize import load_model, save_model

import types as _types

# Every public name above, and no module: ``glassnet.gradcheck`` is the function, the module is
# ``glassnet.check.gradcheck``.
__all__ = sorted(
    name for name, value in dict(globals()).items()
    if not name.startswith("_") and name != "annotations" and not isinstance(value, _types.ModuleType)
)
