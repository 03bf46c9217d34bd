"""glassnet: neural-network classifiers with hand-written, readable, verified backpropagation.

Data flows one way: data -> model -> loss -> backward -> optimizer -> trainer -> report/CLI.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .activations import ACTIVATIONS, ActivationFunction, get_activation
from .errors import (
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
from .init import INITIALIZERS, get_initializer
from .layers import LAYERS, Activation, Dense, Dropout, Layer, LogSoftmax, Softmax
from .losses import (
    LOSSES,
    BinaryCrossEntropyWithLogits,
    CrossEntropy,
    Loss,
    MSELoss,
    NLLLoss,
    SoftmaxCrossEntropy,
    get_loss,
)
from .model import Sequential, mlp
from .numerics import log_softmax, logsumexp, sigmoid, softmax, softmax_jacobian, softmax_vjp, softplus
from .objective import l2_penalty, value_and_grad
from .gradcheck import GradcheckReport, check_layer, check_layers, check_loss, gradcheck
from .optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Nesterov, RMSprop, apply_updates, get_optimizer
from .schedules import SCHEDULES, get_schedule
from .train import EarlyStopping, History, TrainState, fit
from .datasets import Dataset, load_dataset
from .preprocess import Scaler
from .serialize import load_model, save_model

__all__ = [name for name in dir() if not name.startswith("_")]
