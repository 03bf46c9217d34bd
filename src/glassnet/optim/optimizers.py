"""Optimizers: ``init(params) -> state`` and ``update(grads, state, params) -> (updates, state)``.

The design follows optax: an optimizer object holds only hyperparameters;
everything that changes during training (the step counter, momentum buffers,
moment estimates) lives in an explicit state, a ``NamedTuple`` that is passed
in and returned::

    opt = get_optimizer("sgd", lr=0.1, momentum=0.9)
    state = opt.init(model.params())
    for X, y in batches:
        value_and_grad(model, loss, X, y)                 # fills model.grads()
        updates, state = opt.update(model.grads(), state, model.params())
        apply_updates(model.params(), updates)            # p += u, in place

Conventions shared by every optimizer here:

* ``Params``, ``Grads`` and ``Updates`` are dicts ``name -> array`` with the
  same keys and shapes (``model.params()`` / ``model.grads()``).  Updates are
  what to *add* to the parameters: ``-lr * direction``.
* ``state.step`` counts the updates done so far; the update made from a state
  with ``step = t`` uses the learning rate ``lr(t)`` (``t = 0`` first) and
  returns a state with ``step = t + 1``.  ``lr`` is a positive float or a
  schedule, any callable ``step -> lr`` (see :mod:`glassnet.optim.schedules`).
* The formulas and operation order are PyTorch's (``torch.optim.SGD``,
  ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``), SGD's ``dampening`` and
  Adam's ``amsgrad`` included; the tests check five steps of each against
  torch in float64 to 1e-12.  The defaults are PyTorch's except the ones in
  ``DIFFERS_FROM_PYTORCH`` (SGD's ``lr`` is 0.01, PyTorch's 0.001), and
  PyTorch options glassnet does not have are in ``NOT_IMPLEMENTED`` (each
  fixed at PyTorch's default: ``maximize`` False, Adagrad's ``lr_decay`` 0,
  ...).  A test compares both lists with torch's signatures.
* **In place, for speed.**  The buffers are allocated once by ``init`` and
  overwritten by every ``update``: the moment buffers of the state passed in
  are advanced in place (the returned state shares them; do not keep using
  the old one), and the returned ``updates`` arrays are the state's own
  buffers, **valid until the next call to update**.  ``grads`` and ``params``
  are only read.  :func:`state_to_arrays` takes copies for checkpoints.

To add an optimizer, write a class here with a ``NamedTuple`` state whose
first field is ``step`` and whose other fields are dicts of arrays (scratch
buffers go in the fields named ``updates`` and ``work``, which checkpoints
skip), and decorate it with ``@register``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, NamedTuple, Protocol, Union

import numpy as np

from glassnet.core.registry import adder, build
from glassnet.errors import ConfigError, FileFormatError, ShapeError
from glassnet.core.validate import check_int, check_number
from glassnet.optim.schedules import schedule_from_config, schedule_to_config

__all__ = [
    "Params",
    "Grads",
    "Updates",
    "OptState",
    "LearningRate",
    "Optimizer",
    "OPTIMIZERS",
    "register",
    "get_optimizer",
    "apply_updates",
    "clip_by_global_norm",
    "global_norm",
    "state_to_arrays",
    "state_from_arrays",
    "SGD",
    "Nesterov",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "SGDState",
    "AdamState",
    "RMSpropState",
    "AdagradState",
]

Params = dict[str, np.ndarray]
Grads = dict[str, np.ndarray]
Updates = dict[str, np.ndarray]


#: optimizer name -> {argument: (glassnet's default, PyTorch's default, why)}
DIFFERS_FROM_PYTORCH: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "sgd": {"lr": (0.01, 0.001, "a step that trains the small networks glassnet is for")},
    "nesterov": {"lr": (0.01, 0.001, "as sgd"),
                 "momentum": (0.9, 0.0, "Nesterov momentum without momentum is plain SGD")},
}

#: optimizer name -> PyTorch arguments glassnet does not take; glassnet behaves as PyTorch's default
NOT_IMPLEMENTED: dict[str, tuple[str, ...]] = {
    "sgd": ("maximize",),
    "nesterov": ("dampening", "maximize"),  # torch refuses Nesterov with dampening
    "adam": ("maximize", "decoupled_weight_decay"),  # the last one is AdamW: glassnet's adamw
    "adamw": ("maximize",),
    "rmsprop": ("maximize",),
    "adagrad": ("lr_decay", "maximize"),
}


class OptState(Protocol):
    """The type every optimizer's state has: a ``NamedTuple`` (``SGDState``, ``AdamState``, ...) whose first
    field is ``step: int`` and whose other fields are dicts of arrays keyed like the params.

    Checkpoints store it as arrays (:func:`state_to_arrays`) plus its type's name, and rebuild it
    with :func:`state_from_arrays`, which checks every name and shape against ``optimizer.init(params)``.
    """

    step: int
    _fields: tuple[str, ...]

    def _replace(self, **changes: Any) -> "OptState": ...

#: a positive float, or a schedule ``step -> lr``.
LearningRate = Union[float, Callable[[int], float]]

#: state fields that are scratch space, not state: never checkpointed, rebuilt by ``init``.
SCRATCH_FIELDS = ("updates", "work")

#: registry name -> optimizer class; filled by ``@register``.
OPTIMIZERS: dict[str, type[Optimizer]] = {}


register = adder(OPTIMIZERS, "optimizer")


# ---------------------------------------------------------------------------- helpers


def _check_lr(lr: Any) -> LearningRate:
    """A positive finite float, a schedule (any callable), or a schedule config dict (rebuilt)."""
    if isinstance(lr, dict):
        return schedule_from_config(lr)
    if callable(lr):
        return lr
    try:
        return check_number("lr", lr, low=0.0, low_open=True)
    except ConfigError:
        raise ConfigError(
            f"lr must be a positive finite number or a schedule (a callable step -> lr), got {lr!r}"
        ) from None


def _buffers(params: Params, fill: float | None = None) -> dict[str, np.ndarray]:
    """One array per parameter, same shape and dtype; zeros/``fill``, or uninitialised when ``fill`` is None."""
    if fill is None:
        return {name: np.empty_like(p) for name, p in params.items()}
    return {name: np.full_like(p, fill) for name, p in params.items()}


def _check_grads(grads: Grads, reference: dict[str, np.ndarray]) -> None:
    """Grads must have exactly the parameters' names and shapes (else out= arrays could broadcast silently)."""
    if grads.keys() != reference.keys():
        missing = sorted(set(reference) - set(grads))
        extra = sorted(set(grads) - set(reference))
        raise ShapeError(f"gradient names differ from the optimizer state: missing {missing}, unexpected {extra}")
    for name, g in grads.items():
        if g.shape != reference[name].shape:
            raise ShapeError(f"gradient {name} has shape {g.shape}, the optimizer state has {reference[name].shape}")


def _add_weight_decay(grads: Grads, params: Params | None, weight_decay: float, work: dict[str, np.ndarray]) -> Grads:
    """Coupled L2 (torch's ``weight_decay``): ``g + weight_decay * p``, written into ``work``; ``grads`` untouched."""
    if weight_decay == 0.0:
        return grads
    if params is None:
        raise ConfigError("weight_decay needs the current parameters: call update(grads, state, params)")
    for name, g in grads.items():
        out = work[name]
        np.multiply(params[name], weight_decay, out=out)
        out += g
    return work


# ---------------------------------------------------------------------------- base class


class Optimizer:
    """Base class: hyperparameters only; all running state is in the ``OptState`` it returns."""

    name: ClassVar[str] = ""
    #: whether a run's ``momentum`` setting (``--momentum``, ``TrainConfig.momentum``,
    #: ``GlassnetClassifier(momentum=)``) is passed to this optimizer.  True for the
    #: heavy-ball family; an optimizer whose ``momentum`` means something else (RMSprop's
    #: optional momentum, default 0) keeps its own default unless built by name with it.
    takes_run_momentum: ClassVar[bool] = False

    def __init__(self, lr: LearningRate) -> None:
        self.lr = _check_lr(lr)

    def init(self, params: Params) -> OptState:
        """The state before the first update (``step = 0``), with buffers shaped like ``params``."""
        raise NotImplementedError

    def update(self, grads: Grads, state: OptState, params: Params | None = None) -> tuple[Updates, OptState]:
        """Return ``(updates, new_state)``; ``params`` is needed only with weight decay."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments: ``type(opt)(**opt.config())`` rebuilds ``opt``.

        A schedule ``lr`` appears as ``{"name": <schedule>, **schedule.config()}``
        (see :func:`glassnet.optim.schedules.schedule_to_config`); the constructors
        accept that dict back.
        """
        raise NotImplementedError

    def learning_rate(self, step: int) -> float:
        """The learning rate used by the update made from a state with ``state.step == step``."""
        lr = self.lr
        if not callable(lr):
            return lr
        value = float(lr(step))
        if not (value >= 0.0 and math.isfinite(value)):
            raise ConfigError(f"the learning-rate schedule {lr!r} returned {value!r} at step {step}")
        return value

    def _lr_config(self) -> float | dict[str, Any]:
        return self.lr if not callable(self.lr) else schedule_to_config(self.lr)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


# ---------------------------------------------------------------------------- SGD


class SGDState(NamedTuple):
    step: int
    velocity: dict[str, np.ndarray]  # empty without momentum
    updates: dict[str, np.ndarray]  # scratch: the arrays returned as updates
    work: dict[str, np.ndarray]  # scratch: g + weight_decay * p (empty without weight decay)


@register
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum: PyTorch's ``torch.optim.SGD``.

    With gradient ``g`` (plus ``weight_decay * w`` when set), momentum ``mu``
    and velocity ``v`` (zeros at the start)::

        v <- mu * v + (1 - dampening) * g   (v = g at the first step, as torch)
        w <- w - lr * v                  (nesterov=False)
        w <- w - lr * (g + mu * v)       (nesterov=True, with the new v)

    Without momentum this is ``w <- w - lr * g``.  ``dampening`` (default 0)
    scales the gradient fed into the velocity after the first step; like torch,
    Nesterov momentum refuses a non-zero dampening.  ``lr`` defaults to 0.01
    (torch's is 1e-3: see ``DIFFERS_FROM_PYTORCH``).

    **The velocity convention.**  This is PyTorch's form, in which ``v`` is a
    sum of *gradients* and the learning rate multiplies it outside.  The form
    of Sutskever et al. (and of many courses and older frameworks) puts the
    learning rate inside::

        v <- mu * v - lr * g
        w <- w + v

    With a constant ``lr`` the two give identical iterates (their ``v`` is
    ``-lr`` times ours).  They differ when ``lr`` changes during a run: here
    the new rate applies at once to all the accumulated velocity (cut ``lr``
    by 10 and the very next step is 10 times smaller), while the other form
    keeps the old rates baked into ``v`` and only feeds the new rate in with
    each new gradient, so the step shrinks gradually over about
    ``1 / (1 - mu)`` steps (the first step after a 10x cut with ``mu = 0.9``
    is still about 0.9 of the old one).

    The hot path (momentum, no weight decay) is two in-place passes over ``v``
    and one into the preallocated update buffer; nothing is allocated.
    """

    name = "sgd"
    takes_run_momentum = True

    def __init__(
        self,
        lr: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.momentum = check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ConfigError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ConfigError("Nesterov momentum needs momentum > 0, got momentum=0")
        self.dampening = check_number("dampening", dampening, low=0.0, high=1.0)
        if self.nesterov and self.dampening:
            raise ConfigError(f"Nesterov momentum needs dampening 0 (as torch), got dampening={dampening!r}")
        self.weight_decay = check_number("weight_decay", weight_decay, low=0.0)

    def init(self, params: Params) -> SGDState:
        return SGDState(
            step=0,
            velocity=_buffers(params, 0.0) if self.momentum else {},
            updates=_buffers(params),
            work=_buffers(params) if self.weight_decay else {},
        )

    def update(self, grads: Grads, state: SGDState, params: Params | None = None) -> tuple[Updates, SGDState]:
        _check_grads(grads, state.updates)
        lr = self.learning_rate(state.step)
        mu = self.momentum
        grads = _add_weight_decay(grads, params, self.weight_decay, state.work)
        for name, g in grads.items():
            u = state.updates[name]
            if not mu:
                np.multiply(g, -lr, out=u)
                continue
            v = state.velocity[name]
            v *= mu
            if self.dampening and state.step:  # torch's first velocity is g itself, undamped
                np.multiply(g, 1.0 - self.dampening, out=u)
                v += u
            else:
                v += g
            if self.nesterov:
                np.multiply(v, mu, out=u)
                u += g
                u *= -lr
            else:
                np.multiply(v, -lr, out=u)
        return state.updates, state._replace(step=state.step + 1)

    def config(self) -> dict[str, Any]:
        return {
            "lr": self._lr_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "dampening": self.dampening,
        }


@register
class Nesterov(SGD):
    """SGD with Nesterov momentum (``SGD(nesterov=True)``), momentum 0.9 by default."""

    name = "nesterov"

    def __init__(self, lr: LearningRate = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)

    def config(self) -> dict[str, Any]:
        config = super().config()
        del config["nesterov"], config["dampening"]
        return config


# ---------------------------------------------------------------------------- Adam, AdamW


class AdamState(NamedTuple):
    step: int
    exp_avg: dict[str, np.ndarray]  # m: running mean of g
    exp_avg_sq: dict[str, np.ndarray]  # v: running mean of g^2
    max_exp_avg_sq: dict[str, np.ndarray]  # AMSGrad's running maximum of v (empty without amsgrad)
    updates: dict[str, np.ndarray]  # scratch, also used for the intermediate terms
    work: dict[str, np.ndarray]  # scratch for weight decay (empty without it)


@register
class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's ``torch.optim.Adam`` including its L2-coupled ``weight_decay``.

    For the update number ``t = step + 1`` (1-based), with ``g`` the gradient
    plus ``weight_decay * w`` and ``m, v`` starting at zero::

        m <- m + (1 - beta1) (g - m)                 # = beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        w <- w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The bias corrections ``1 - beta^t`` undo the pull of the zero start; ``eps``
    is added *after* the second-moment correction, as PyTorch does.  With
    ``amsgrad=True`` (Reddi et al., torch's ``amsgrad``) the denominator uses
    ``v_max <- max(v_max, v)`` instead of ``v``, so the step size never grows.
    """

    name = "adam"
    #: AdamW sets this: decay the weights directly instead of adding ``wd * w`` to ``g``.
    decoupled_weight_decay: ClassVar[bool] = False

    def __init__(
        self,
        lr: LearningRate = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(lr)
        self.beta1 = check_number("beta1", beta1, low=0.0, high=1.0, high_open=True)
        self.beta2 = check_number("beta2", beta2, low=0.0, high=1.0, high_open=True)
        self.eps = check_number("eps", eps, low=0.0)
        self.weight_decay = check_number("weight_decay", weight_decay, low=0.0)
        if not isinstance(amsgrad, (bool, np.bool_)):
            raise ConfigError(f"amsgrad must be True or False, got {amsgrad!r}")
        self.amsgrad = bool(amsgrad)

    def init(self, params: Params) -> AdamState:
        return AdamState(
            step=0,
            exp_avg=_buffers(params, 0.0),
            exp_avg_sq=_buffers(params, 0.0),
            max_exp_avg_sq=_buffers(params, 0.0) if self.amsgrad else {},
            updates=_buffers(params),
            work=_buffers(params) if self.weight_decay else {},
        )

    def update(self, grads: Grads, state: AdamState, params: Params | None = None) -> tuple[Updates, AdamState]:
        _check_grads(grads, state.updates)
        lr = self.learning_rate(state.step)
        beta1, beta2, eps = self.beta1, self.beta2, self.eps
        t = state.step + 1
        step_size = lr / (1.0 - beta1**t)
        bias_correction2_sqrt = (1.0 - beta2**t) ** 0.5
        decay = self.weight_decay
        if decay and params is None:
            raise ConfigError("weight_decay needs the current parameters: call update(grads, state, params)")
        if not self.decoupled_weight_decay:
            grads = _add_weight_decay(grads, params, decay, state.work)
        for name, g in grads.items():
            m, v, u = state.exp_avg[name], state.exp_avg_sq[name], state.updates[name]
            np.subtract(g, m, out=u)  # m <- m + (1 - beta1)(g - m)
            u *= 1.0 - beta1
            m += u
            v *= beta2  # v <- beta2 v + (1 - beta2) g^2
            np.multiply(g, g, out=u)
            u *= 1.0 - beta2
            v += u
            if self.amsgrad:  # v_max <- max(v_max, v), used in place of v below
                v = np.maximum(state.max_exp_avg_sq[name], v, out=state.max_exp_avg_sq[name])
            np.sqrt(v, out=u)  # u <- -step_size * m / (sqrt(v) / sqrt(bc2) + eps)
            u /= bias_correction2_sqrt
            u += eps
            np.divide(m, u, out=u)
            u *= -step_size
            if decay and self.decoupled_weight_decay:  # w <- w - lr * wd * w
                w = state.work[name]
                np.multiply(params[name], -lr * decay, out=w)
                u += w
        return state.updates, state._replace(step=t)

    def config(self) -> dict[str, Any]:
        return {
            "lr": self._lr_config(),
            "beta1": self.beta1,
            "beta2": self.beta2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "amsgrad": self.amsgrad,
        }


@register
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's ``torch.optim.AdamW``.

    The decay does not go through the moments: each update first shrinks the
    weights, ``w <- w - lr * weight_decay * w`` (with the current ``lr``, so a
    schedule scales the decay too), then takes the plain Adam step from the
    raw gradient.  Default ``weight_decay=0.01`` as in PyTorch.
    """

    name = "adamw"
    decoupled_weight_decay = True

    def __init__(
        self,
        lr: LearningRate = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


# ---------------------------------------------------------------------------- RMSprop


class RMSpropState(NamedTuple):
    step: int
    square_avg: dict[str, np.ndarray]  # running mean of g^2
    grad_avg: dict[str, np.ndarray]  # running mean of g (centered only, else empty)
    momentum_buffer: dict[str, np.ndarray]  # (momentum > 0 only, else empty)
    updates: dict[str, np.ndarray]
    work: dict[str, np.ndarray]


@register
class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's ``torch.optim.RMSprop`` with its defaults ``alpha=0.99, eps=1e-8``.

    With ``g`` the gradient plus ``weight_decay * w``::

        s <- alpha s + (1 - alpha) g^2
        c <- c + (1 - alpha)(g - c)                      (centered only)
        d  = sqrt(s - c^2) + eps  if centered  else  sqrt(s) + eps
        b <- momentum b + g / d;  w <- w - lr b          (momentum > 0)
        w <- w - lr g / d                                (momentum = 0)

    ``centered`` divides by an estimate of the gradient's standard deviation
    instead of its root mean square.
    """

    name = "rmsprop"

    def __init__(
        self,
        lr: LearningRate = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(lr)
        self.alpha = check_number("alpha", alpha, low=0.0, high=1.0, high_open=True)
        self.eps = check_number("eps", eps, low=0.0)
        self.weight_decay = check_number("weight_decay", weight_decay, low=0.0)
        self.momentum = check_number("momentum", momentum, low=0.0, high=1.0, high_open=True)
        if not isinstance(centered, (bool, np.bool_)):
            raise ConfigError(f"centered must be True or False, got {centered!r}")
        self.centered = bool(centered)

    def init(self, params: Params) -> RMSpropState:
        return RMSpropState(
            step=0,
            square_avg=_buffers(params, 0.0),
            grad_avg=_buffers(params, 0.0) if self.centered else {},
            momentum_buffer=_buffers(params, 0.0) if self.momentum else {},
            updates=_buffers(params),
            work=_buffers(params) if self.weight_decay else {},
        )

    def update(self, grads: Grads, state: RMSpropState, params: Params | None = None) -> tuple[Updates, RMSpropState]:
        _check_grads(grads, state.updates)
        lr = self.learning_rate(state.step)
        alpha, eps, mu = self.alpha, self.eps, self.momentum
        grads = _add_weight_decay(grads, params, self.weight_decay, state.work)
        for name, g in grads.items():
            s, u = state.square_avg[name], state.updates[name]
            s *= alpha  # s <- alpha s + (1 - alpha) g^2
            np.multiply(g, g, out=u)
            u *= 1.0 - alpha
            s += u
            if self.centered:
                c = state.grad_avg[name]
                np.subtract(g, c, out=u)  # c <- c + (1 - alpha)(g - c)
                u *= 1.0 - alpha
                c += u
                np.multiply(c, c, out=u)  # u <- sqrt(s - c^2)
                np.subtract(s, u, out=u)
                np.sqrt(u, out=u)
            else:
                np.sqrt(s, out=u)
            u += eps
            np.divide(g, u, out=u)  # u <- g / d
            if mu:
                b = state.momentum_buffer[name]
                b *= mu
                b += u
                np.multiply(b, -lr, out=u)
            else:
                u *= -lr
        return state.updates, state._replace(step=state.step + 1)

    def config(self) -> dict[str, Any]:
        return {
            "lr": self._lr_config(),
            "alpha": self.alpha,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "centered": self.centered,
        }


# ---------------------------------------------------------------------------- Adagrad


class AdagradState(NamedTuple):
    step: int
    sum_sq: dict[str, np.ndarray]  # sum of g^2 so far (plus the initial value)
    updates: dict[str, np.ndarray]
    work: dict[str, np.ndarray]


@register
class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's ``torch.optim.Adagrad`` (``lr=0.01, eps=1e-10``).

    With ``g`` the gradient plus ``weight_decay * w`` and ``s`` starting at
    ``initial_accumulator_value``::

        s <- s + g^2
        w <- w - lr g / (sqrt(s) + eps)

    PyTorch's ``lr_decay`` (``lr / (1 + t * lr_decay)``) is not built in;
    pass a schedule as ``lr`` instead.
    """

    name = "adagrad"

    def __init__(
        self,
        lr: LearningRate = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        super().__init__(lr)
        self.eps = check_number("eps", eps, low=0.0)
        self.weight_decay = check_number("weight_decay", weight_decay, low=0.0)
        self.initial_accumulator_value = check_number(
            "initial_accumulator_value", initial_accumulator_value, low=0.0
        )

    def init(self, params: Params) -> AdagradState:
        return AdagradState(
            step=0,
            sum_sq=_buffers(params, self.initial_accumulator_value),
            updates=_buffers(params),
            work=_buffers(params) if self.weight_decay else {},
        )

    def update(self, grads: Grads, state: AdagradState, params: Params | None = None) -> tuple[Updates, AdagradState]:
        _check_grads(grads, state.updates)
        lr = self.learning_rate(state.step)
        grads = _add_weight_decay(grads, params, self.weight_decay, state.work)
        for name, g in grads.items():
            s, u = state.sum_sq[name], state.updates[name]
            np.multiply(g, g, out=u)  # s <- s + g^2
            s += u
            np.sqrt(s, out=u)  # u <- -lr g / (sqrt(s) + eps)
            u += self.eps
            np.divide(g, u, out=u)
            u *= -lr
        return state.updates, state._replace(step=state.step + 1)

    def config(self) -> dict[str, Any]:
        return {
            "lr": self._lr_config(),
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "initial_accumulator_value": self.initial_accumulator_value,
        }


# ---------------------------------------------------------------------------- functions


def get_optimizer(spec: str | Optimizer, **kwargs: Any) -> Optimizer:
    """An optimizer from its registry name and hyperparameters (an Optimizer passes through).

    ``get_optimizer(opt.name, **opt.config())`` rebuilds ``opt``.
    """
    return build(OPTIMIZERS, "optimizer", spec, Optimizer, kwargs)


def apply_updates(params: Params, updates: Updates) -> None:
    """``p += u`` for every name in ``updates``, in place on the live parameter arrays."""
    for name, u in updates.items():
        p = params[name]
        p += u


def global_norm(grads: Grads) -> float:
    """``sqrt(sum over all arrays of sum(g^2))``.

    Each array's sum of squares is a BLAS dot product in the array's dtype;
    the per-array sums are added in float64.  If a float32 sum overflows while
    the gradients are finite, it is recomputed in float64.
    """
    total = 0.0
    with np.errstate(over="ignore"):
        for g in grads.values():
            flat = g.ravel()
            total += float(np.dot(flat, flat))
    if not math.isfinite(total) and all(np.isfinite(g).all() for g in grads.values()):
        total = sum(float(np.dot(g.ravel().astype(np.float64), g.ravel().astype(np.float64))) for g in grads.values())
    return math.sqrt(total)


def clip_by_global_norm(grads: Grads, max_norm: float) -> float:
    """Scale all gradients by ``max_norm / norm`` when their global norm exceeds ``max_norm``; return the norm.

    ``norm = sqrt(sum_arrays sum(g^2))`` is measured before clipping and
    returned (for logging); the clipped gradients then have norm ``max_norm``
    and keep their direction.  The arrays are scaled in place.  A NaN or
    infinite norm is returned as is and the gradients are left untouched, so
    the caller's non-finite check sees them (scaling by ``max_norm / inf``
    would silently zero them).
    """
    max_norm = check_number("max_norm", max_norm, low=0.0, low_open=True)
    norm = global_norm(grads)
    if norm > max_norm and math.isfinite(norm):
        scale = max_norm / norm
        for g in grads.values():
            g *= scale
    return norm


def state_to_arrays(state: OptState) -> dict[str, np.ndarray]:
    """Flatten an optimizer state to named arrays for ``np.savez`` (no pickle).

    Keys are ``"step"`` (a 0-d int64 array) and ``"<field>/<param name>"``
    (``"velocity/0.W"``, ``"exp_avg_sq/2.b"``, ...); the scratch fields
    ``updates`` and ``work`` are left out.  The arrays are copies.
    """
    arrays: dict[str, np.ndarray] = {"step": np.asarray(state.step, dtype=np.int64)}
    for field in state._fields:
        if field == "step" or field in SCRATCH_FIELDS:
            continue
        for name, array in getattr(state, field).items():
            arrays[f"{field}/{name}"] = array.copy()
    return arrays


def state_from_arrays(optimizer: Optimizer, params: Params, arrays: dict[str, np.ndarray]) -> OptState:
    """Rebuild the state :func:`state_to_arrays` flattened; the next updates are bit-identical.

    ``optimizer`` and ``params`` give the expected layout (``optimizer.init(params)``);
    missing, unexpected or mis-shaped entries raise :class:`FileFormatError`.
    """
    state = optimizer.init(params)
    expected = {"step"} | {
        f"{field}/{name}"
        for field in state._fields
        if field != "step" and field not in SCRATCH_FIELDS
        for name in getattr(state, field)
    }
    if set(arrays) != expected:
        missing = sorted(expected - set(arrays))
        extra = sorted(set(arrays) - expected)
        raise FileFormatError(
            f"optimizer state does not fit {type(optimizer).__name__} on these parameters: "
            f"missing {missing}, unexpected {extra}"
        )
    step = np.asarray(arrays["step"])
    if step.shape != () or step.dtype.kind not in "iu":
        raise FileFormatError(f"optimizer state 'step' must be a scalar integer, got {step.dtype} {step.shape}")
    try:
        step_value = check_int("step", int(step), low=0)
    except ConfigError as exc:
        raise FileFormatError(f"bad optimizer state: {exc}") from None
    for key in expected - {"step"}:
        field, name = key.split("/", 1)
        target = getattr(state, field)[name]
        value = np.asarray(arrays[key])
        if value.shape != target.shape:
            raise FileFormatError(f"optimizer state {key!r} has shape {value.shape}, expected {target.shape}")
        np.copyto(target, value, casting="same_kind")
    return state._replace(step=step_value)
