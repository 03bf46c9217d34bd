"""Differential tests: glassnet's hand-written backprop against PyTorch autograd, in float64.

Each case is one random network (1-4 hidden layers of width 1-12, batch size
1-16, one activation for every hidden layer), one loss with a PyTorch twin and
its options (targets as labels or probability rows, label smoothing, class
weights, reduction, L2, dropout layers in eval mode).  glassnet computes
``J`` and every gradient with :func:`glassnet.value_and_grad`; PyTorch
computes ``J`` from the same weights (:func:`glassnet.interop.torch.to_torch`) with
its own loss modules and differentiates it with autograd.  The loss value,
every parameter gradient and ``dJ/dX`` must agree to a relative 1e-10.

The loss twins (PyTorch's conventions, which glassnet follows):

====================================  ==========================================================
glassnet                              PyTorch
====================================  ==========================================================
SoftmaxCrossEntropy(logits)           nn.CrossEntropyLoss (labels: weighted mean by sum w_y)
CrossEntropy(Softmax output)          nn.NLLLoss(log P) for labels, nn.CrossEntropyLoss(log P)
                                      with smoothing or probability rows (log_softmax(log P) = log P)
NLLLoss(outputs)                      nn.NLLLoss(outputs)
BinaryCrossEntropyWithLogits          nn.BCEWithLogitsLoss(reduction="sum") / m
MSELoss                               nn.MSELoss(reduction="sum") / m
L2: lambda / (2m) sum W^2             added by hand to the PyTorch loss over Linear weights only
====================================  ==========================================================

Hardsigmoid: ``nn.Hardsigmoid``'s backward multiplies by the float32 constant
``1.0f / 6`` even in float64 (PyTorch's CPU kernel), so its float64 gradient
is off by a relative 3e-8 (``test_torch_hardsigmoid_gradient_is_float32``
pins this).  The differential cases therefore run hard_sigmoid through
PyTorch's own definition ``relu6(x + 3) / 6`` (from its documentation),
which autograd differentiates in full float64; the forward of
``nn.Hardsigmoid`` itself is compared in ``test_torch_interop.py``.

Softplus: ``nn.Softplus`` becomes linear above its threshold (20), glassnet's
softplus is exact; every softplus case checks its pre-activations stay below
that threshold, so the comparison is between identical functions.

Normalisation cases (``NORM_CASES``): the same networks with a BatchNorm or a
LayerNorm between each hidden Linear and its activation (random gamma, beta
and running statistics), in eval mode (frozen running statistics) and in
training mode (the batch's statistics; the module in ``.train()``, no dropout).
Besides the loss and every gradient, the running statistics after the
forward must agree: PyTorch's momentum convention and unbiased running
variance are glassnet's.

Cases come from ``np.random.default_rng([BASE_SEED, case_index])``: the
activation and loss variant cycle through every combination (so each appears
many times, see ``test_case_coverage``), everything else is drawn from the case's generator.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from glassnet.core.activations import ACTIVATIONS, get_activation  # noqa: E402
from glassnet.nn.layers import Activation, Dense  # noqa: E402
from glassnet.nn.losses import LOSSES, get_loss  # noqa: E402
from glassnet.nn.model import Sequential, mlp  # noqa: E402
from glassnet.nn.objective import value_and_grad  # noqa: E402
from glassnet.interop.torch import SOFTPLUS_MIN_THRESHOLD, TO_TORCH_ACTIVATIONS, to_torch  # noqa: E402

pytestmark = pytest.mark.torch

BASE_SEED = 20240606
RTOL = 1e-10
#: elementwise atol, relative to the tensor's largest entry: covers entries that are sums
#: of terms that cancel (a bias gradient near 0), where only the absolute error is meaningful.
ATOL_SCALE = 1e-13

# ---------------------------------------------------------------------- the case space
#: every glassnet activation PyTorch also has -> a draw of its constructor options.
ACTIVATION_OPTIONS: dict[str, Any] = {
    "identity": lambda rng: {},
    "sigmoid": lambda rng: {},
    "tanh": lambda rng: {},
    "relu": lambda rng: {},
    "leaky_relu": lambda rng: {"slope": round(float(rng.uniform(0.01, 0.5)), 4)},
    "elu": lambda rng: {"alpha": round(float(rng.uniform(0.3, 2.0)), 4)},
    "selu": lambda rng: {},
    "softplus": lambda rng: {},
    "softsign": lambda rng: {},
    "gelu": lambda rng: {},
    "gelu_tanh": lambda rng: {},
    "silu": lambda rng: {},
    "swish": lambda rng: {"beta": 1.0},  # PyTorch's twin (SiLU) has beta = 1 only
    "mish": lambda rng: {},
    "hard_tanh": lambda rng: {
        "min_val": -round(float(rng.uniform(0.3, 2.0)), 4),
        "max_val": round(float(rng.uniform(0.3, 2.0)), 4),
    },
    "hard_sigmoid": lambda rng: {},
}
ACTIVATION_NAMES = list(ACTIVATION_OPTIONS)


@dataclasses.dataclass(frozen=True)
class LossVariant:
    label: str  # short name used in test ids
    loss: str  # glassnet loss name
    targets: str  # "labels", "soft" (probability rows), "binary" (0/1, one column), "real" (any reals)
    smoothing: bool = False
    weights: bool = False


LOSS_VARIANTS = [
    LossVariant("sce", "softmax_cross_entropy", "labels"),
    LossVariant("sce_smooth", "softmax_cross_entropy", "labels", smoothing=True),
    LossVariant("sce_w", "softmax_cross_entropy", "labels", weights=True),
    LossVariant("sce_w_smooth", "softmax_cross_entropy", "labels", smoothing=True, weights=True),
    LossVariant("sce_soft", "softmax_cross_entropy", "soft"),
    LossVariant("sce_soft_smooth", "softmax_cross_entropy", "soft", smoothing=True),
    LossVariant("sce_soft_w", "softmax_cross_entropy", "soft", weights=True),
    LossVariant("sce_soft_w_smooth", "softmax_cross_entropy", "soft", smoothing=True, weights=True),
    LossVariant("ce", "cross_entropy", "labels"),
    LossVariant("ce_w", "cross_entropy", "labels", weights=True),
    LossVariant("ce_smooth", "cross_entropy", "labels", smoothing=True),
    LossVariant("ce_soft", "cross_entropy", "soft"),
    LossVariant("ce_soft_w_smooth", "cross_entropy", "soft", smoothing=True, weights=True),
    LossVariant("nll", "nll", "labels"),
    LossVariant("nll_w", "nll", "labels", weights=True),
    LossVariant("bce", "binary_cross_entropy_with_logits", "binary"),
    LossVariant("bce_ovr", "binary_cross_entropy_with_logits", "labels"),
    LossVariant("bce_soft", "binary_cross_entropy_with_logits", "soft"),
    LossVariant("mse", "mse", "labels"),
    LossVariant("mse_real", "mse", "real"),
]

#: every full combination of activation and loss variant, this many times.
REPEATS = 2
N_CASES = len(ACTIVATION_NAMES) * len(LOSS_VARIANTS) * REPEATS


@dataclasses.dataclass(frozen=True)
class Case:
    index: int
    activation: str
    activation_options: dict
    variant: LossVariant
    sizes: tuple[int, ...]  # (n_in, h1, ..., n_out)
    batch: int
    reduction: str
    l2: float
    dropout: bool
    norm: str | None = None  # "batch" or "layer" between each hidden Dense and its activation
    training: bool = False

    @property
    def id(self) -> str:
        parts = [f"case{self.index:03d}", self.activation, self.variant.label, self.reduction]
        if self.norm:
            parts[0] = f"norm{self.index:03d}"
            parts.append(f"{self.norm}-{'train' if self.training else 'eval'}")
        if self.l2:
            parts.append("l2")
        if self.dropout:
            parts.append("drop")
        parts.append(f"m{self.batch}")
        return "-".join(parts)

    def rng(self) -> np.random.Generator:
        """The generator for the case's numbers (weights, inputs, targets), apart from its structure."""
        return np.random.default_rng([BASE_SEED, self.index, 1])


def make_case(index: int) -> Case:
    rng = np.random.default_rng([BASE_SEED, index])
    activation = ACTIVATION_NAMES[index % len(ACTIVATION_NAMES)]
    variant = LOSS_VARIANTS[(index // len(ACTIVATION_NAMES)) % len(LOSS_VARIANTS)]
    depth = int(rng.integers(1, 5))
    hidden = [int(w) for w in rng.integers(1, 13, size=depth)]
    n_in = int(rng.integers(1, 13))
    if variant.targets == "binary":
        n_out = 1
    elif variant.loss == "mse" and variant.targets == "real":
        n_out = int(rng.integers(1, 7))
    else:
        n_out = int(rng.integers(2, 7))
    batch = int(rng.choice([1, 1, 2, 3, 4, 5, 8, 13, 16]))
    return Case(
        index=index,
        activation=activation,
        activation_options=ACTIVATION_OPTIONS[activation](rng),
        variant=variant,
        sizes=(n_in, *hidden, n_out),
        batch=batch,
        reduction=str(rng.choice(["mean", "sum"])),
        l2=round(float(rng.uniform(0.05, 2.0)), 4) if rng.random() < 0.5 else 0.0,
        dropout=bool(rng.random() < 0.2),
    )


CASES = [make_case(i) for i in range(N_CASES)]


def make_norm_case(index: int) -> Case:
    """A case of the normalisation suite: norm and mode cycle fastest, then the activation, then the loss."""
    norm, training = [("batch", False), ("batch", True), ("layer", False), ("layer", True)][index % 4]
    base = make_case(N_CASES + index)
    activation = ACTIVATION_NAMES[(index // 4) % len(ACTIVATION_NAMES)]
    variant = LOSS_VARIANTS[(index // 4 // len(ACTIVATION_NAMES) + index) % len(LOSS_VARIANTS)]
    rng = np.random.default_rng([BASE_SEED, N_CASES + index, 2])
    return dataclasses.replace(
        base, index=index, activation=activation, activation_options=ACTIVATION_OPTIONS[activation](rng),
        variant=variant, sizes=base.sizes if variant.targets != "binary" else (*base.sizes[:-1], 1),
        batch=max(base.batch, 2) if norm == "batch" and training else base.batch,
        dropout=base.dropout and not training, norm=norm, training=training,
    )


#: every activation with each norm in each mode, twice
NORM_CASES = [make_norm_case(i) for i in range(4 * len(ACTIVATION_NAMES) * 2)]


# ---------------------------------------------------------------------- running one case
@dataclasses.dataclass
class Problem:
    model: Sequential
    X: np.ndarray  # (m, n_in)
    targets: np.ndarray  # (m,) labels or (m, k) rows
    label_smoothing: float
    class_weights: np.ndarray | None  # (k,)


def make_problem(case: Case) -> Problem:
    rng = case.rng()
    v = case.variant
    output = "softmax" if v.loss == "cross_entropy" else "logits"
    model = mlp(
        case.sizes,
        activation=get_activation(case.activation, **case.activation_options),
        dropout=0.3 if case.dropout else 0.0,
        output=output,
        norm=case.norm,
        rng=rng,
        dtype=np.float64,
    )
    for layer in model.layers:  # non-zero biases, so the bias path is tested too
        if isinstance(layer, Dense):
            layer.params["b"][...] = rng.normal(0.0, 0.5, size=layer.n_out)
    for name, array in {**model.params(), **model.state()}.items():  # not gamma = 1, beta = 0, stats (0, 1)
        if name.endswith(("gamma", "beta", "running_mean")):
            array[...] = rng.normal(0.0, 0.7, size=array.shape) + (1.0 if name.endswith("gamma") else 0.0)
        elif name.endswith("running_var"):
            array[...] = rng.uniform(0.4, 2.5, size=array.shape)
    m, k = case.batch, case.sizes[-1]
    X = rng.normal(size=(m, case.sizes[0]))
    if v.targets == "labels":
        targets = rng.integers(0, k, size=m)
    elif v.targets == "binary":
        targets = rng.integers(0, 2, size=m)
    elif v.targets == "soft":
        targets = rng.dirichlet(np.ones(k), size=m) if v.loss != "binary_cross_entropy_with_logits" else rng.uniform(size=(m, k))
    else:
        targets = rng.normal(size=(m, k))
    smoothing = round(float(rng.uniform(0.05, 0.4)), 4) if v.smoothing else 0.0
    weights = rng.uniform(0.2, 3.0, size=k) if v.weights else None
    return Problem(model, X, targets, smoothing, weights)


def glassnet_result(case: Case, problem: Problem) -> dict[str, np.ndarray]:
    """``{"loss": J, "<i>.W": dJ/dW, "<i>.b": dJ/db, "X": dJ/dX}`` from glassnet."""
    v = case.variant
    options: dict[str, Any] = {"reduction": case.reduction}
    if v.loss in ("softmax_cross_entropy", "cross_entropy", "nll"):
        options.update(label_smoothing=problem.label_smoothing, class_weights=problem.class_weights)
    loss = get_loss(v.loss, **options)
    model = problem.model.copy()  # a training forward moves the running statistics; PyTorch starts from the same
    value, grad_X = value_and_grad(model, loss, problem.X, problem.targets, l2=case.l2, need_input_grad=True,
                                   training=case.training)
    result = {"loss": np.asarray(value)}
    result.update({name: grad.copy() for name, grad in model.grads().items()})
    result.update({name: array.copy() for name, array in model.state().items()})  # after the forward
    result["X"] = grad_X
    return result


def torch_loss(case: Case, problem: Problem, outputs, targets_np: np.ndarray):
    """PyTorch's loss for the case's variant, built from PyTorch's own modules."""
    v, m, k = case.variant, case.batch, case.sizes[-1]
    red = case.reduction
    weight = None if problem.class_weights is None else torch.from_numpy(problem.class_weights)
    if v.targets in ("labels", "binary"):
        targets = torch.from_numpy(np.asarray(targets_np, dtype=np.int64))
    else:
        targets = torch.from_numpy(targets_np)
    eps = problem.label_smoothing
    if v.loss == "softmax_cross_entropy":
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=eps, reduction=red)(outputs, targets)
    if v.loss == "cross_entropy":
        log_probs = torch.log(outputs)
        if v.targets == "labels" and eps == 0.0:
            return nn.NLLLoss(weight=weight, reduction=red)(log_probs, targets)
        # log_softmax(log P) = log P when the rows of P sum to 1: CrossEntropyLoss applies its
        # smoothing and weighting conventions to the probabilities of the Softmax layer.
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=eps, reduction=red)(log_probs, targets)
    if v.loss == "nll":
        return nn.NLLLoss(weight=weight, reduction=red)(outputs, targets)
    divisor = m if red == "mean" else 1
    if v.targets == "binary":
        target_rows = targets.to(torch.float64).reshape(-1, 1)
    elif v.targets == "labels":
        target_rows = nn.functional.one_hot(targets, k).to(torch.float64)
    else:
        target_rows = targets
    if v.loss == "binary_cross_entropy_with_logits":
        return nn.BCEWithLogitsLoss(reduction="sum")(outputs, target_rows) / divisor
    if v.loss == "mse":
        return nn.MSELoss(reduction="sum")(outputs, target_rows) / divisor
    raise AssertionError(f"no PyTorch twin for {v.loss}")


class Float64Hardsigmoid(nn.Module):
    """``relu6(x + 3) / 6``, the definition in ``nn.Hardsigmoid``'s documentation, with a float64 backward."""

    def forward(self, x):
        return nn.functional.relu6(x + 3) / 6


def torch_result(case: Case, problem: Problem) -> dict[str, np.ndarray]:
    """The same dictionary as :func:`glassnet_result`, from PyTorch autograd."""
    net = to_torch(problem.model)
    assert not net.training
    if case.training:
        assert not case.dropout  # PyTorch's dropout masks are its own
        net.train()
    for i, mod in enumerate(net):
        if isinstance(mod, nn.Hardsigmoid):  # see the module docstring
            net[i] = Float64Hardsigmoid()
    X = torch.from_numpy(problem.X.copy()).requires_grad_(True)
    outputs = net(X)
    loss = torch_loss(case, problem, outputs, problem.targets)
    if case.l2:
        m = case.batch if case.reduction == "mean" else 1
        loss = loss + case.l2 / (2 * m) * sum((mod.weight**2).sum() for mod in net if isinstance(mod, nn.Linear))
    loss.backward()
    result = {"loss": loss.detach().numpy()}
    for i, mod in enumerate(net):
        if isinstance(mod, nn.Linear):
            result[f"{i}.W"] = mod.weight.grad.numpy().T
            result[f"{i}.b"] = mod.bias.grad.numpy()
        if isinstance(mod, (nn.BatchNorm1d, nn.LayerNorm)):
            result[f"{i}.gamma"] = mod.weight.grad.numpy()
            result[f"{i}.beta"] = mod.bias.grad.numpy()
        if isinstance(mod, nn.BatchNorm1d):
            result[f"{i}.running_mean"] = mod.running_mean.numpy()
            result[f"{i}.running_var"] = mod.running_var.numpy()
    result["X"] = X.grad.numpy()
    return result


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / max(||b||, 1e-300)`` (Frobenius norms)."""
    return float(np.linalg.norm(np.ravel(a - b)) / max(float(np.linalg.norm(np.ravel(b))), 1e-300))


def assert_results_match(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray], rtol: float = RTOL) -> None:
    """Every tensor: norm-relative error <= rtol and elementwise allclose(rtol, tiny atol)."""
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        assert a.shape == b.shape, f"{name}: glassnet shape {a.shape}, PyTorch {b.shape}"
        err = relative_error(a, b)
        assert err <= rtol, f"{name}: relative error {err:.3e} > {rtol:g}\nglassnet {a}\nPyTorch  {b}"
        atol = ATOL_SCALE * float(np.max(np.abs(b), initial=0.0)) + 1e-300
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{name} differs elementwise")


#: the normalisation suite's elementwise atol, relative to the largest gradient entry of the whole problem
NORM_ATOL_SCALE = 1e-12


def assert_norm_results_match(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    """:func:`assert_results_match` with an absolute floor taken from the whole problem's gradients.

    Normalisation makes some gradients exactly 0 or nearly so by invariance: a bias right before a
    training-mode BatchNorm is subtracted again with the batch mean (true gradient 0, both libraries
    return ~1e-22 of rounding), a LayerNorm over 2 features outputs +-1 whatever its input (everything
    before it gets a gradient of order eps, left after cancelling terms of order 1).  Such a tensor is
    rounding noise, and only an absolute error can judge it: the floor is 1e-12 of the largest gradient
    entry anywhere in the problem.  The loss and the running statistics keep the plain comparison.
    """
    assert sorted(ours) == sorted(theirs)
    grads = [n for n in theirs if n != "loss" and "running" not in n]
    floor = NORM_ATOL_SCALE * max(float(np.max(np.abs(theirs[n]), initial=0.0)) for n in grads)
    assert_results_match({n: ours[n] for n in theirs if n not in grads}, {n: theirs[n] for n in theirs if n not in grads})
    for name in grads:
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        assert a.shape == b.shape, f"{name}: glassnet shape {a.shape}, PyTorch {b.shape}"
        err = float(np.linalg.norm(np.ravel(a - b)))
        assert err <= RTOL * float(np.linalg.norm(np.ravel(b))) + floor * np.sqrt(b.size), (
            f"{name}: |difference| {err:.3e}\nglassnet {a}\nPyTorch  {b}")
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=floor, err_msg=f"{name} differs elementwise")


def check_softplus_threshold(case: Case, problem: Problem) -> None:
    """nn.Softplus is linear above its threshold, glassnet's softplus is exact: stay below it."""
    if case.activation != "softplus":
        return
    outputs: list[np.ndarray] = []
    problem.model.copy().forward(problem.X, capture=outputs, training=case.training)
    layers = problem.model.layers
    pre = [outputs[i] for i in range(len(layers) - 1) if isinstance(layers[i + 1], Activation)]
    assert max(float(z.max()) for z in pre) < SOFTPLUS_MIN_THRESHOLD


# ---------------------------------------------------------------------- the tests
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_torch_autograd(case: Case) -> None:
    problem = make_problem(case)
    check_softplus_threshold(case, problem)
    assert_results_match(glassnet_result(case, problem), torch_result(case, problem))


@pytest.mark.parametrize("case", NORM_CASES, ids=[c.id for c in NORM_CASES])
def test_norm_layers_match_torch_autograd(case: Case) -> None:
    problem = make_problem(case)
    check_softplus_threshold(case, problem)
    ours, theirs = glassnet_result(case, problem), torch_result(case, problem)
    assert any(name.endswith("gamma") for name in theirs)
    assert_norm_results_match(ours, theirs)


def test_norm_case_coverage() -> None:
    """Every activation meets each norm in each mode; BatchNorm training batches have 2+ samples."""
    assert len({c.id for c in NORM_CASES}) == len(NORM_CASES)
    combos = Counter((c.activation, c.norm, c.training) for c in NORM_CASES)
    assert len(combos) == len(ACTIVATION_NAMES) * 4 and min(combos.values()) == 2
    assert len({c.variant.label for c in NORM_CASES}) >= 15
    assert all(c.batch >= 2 for c in NORM_CASES if c.norm == "batch" and c.training)
    assert not any(c.dropout for c in NORM_CASES if c.training)
    assert any(c.dropout for c in NORM_CASES) and any(c.l2 for c in NORM_CASES)
    assert any(c.batch == 1 for c in NORM_CASES if c.norm == "layer")


def test_comparison_sees_the_incomplete_batchnorm_backward() -> None:
    """The suite is sharp for BatchNorm too: dropping the mean and variance paths from dJ/dX fails it."""
    case = next(c for c in NORM_CASES if c.norm == "batch" and c.training and c.batch >= 4)
    problem = make_problem(case)
    ours, theirs = glassnet_result(case, problem), torch_result(case, problem)
    assert_norm_results_match(ours, theirs)
    eval_case = dataclasses.replace(case, training=False)  # eval mode: mean and variance are constants
    frozen = glassnet_result(eval_case, make_problem(eval_case))
    with pytest.raises(AssertionError):
        assert_norm_results_match(dict(ours, X=frozen["X"]), theirs)


def test_case_coverage() -> None:
    """Every activation, loss variant and option appears many times; the case set is as documented."""
    assert len(CASES) >= 400
    assert len({c.id for c in CASES}) == len(CASES)
    # the activations are exactly glassnet's activations that PyTorch has
    assert set(ACTIVATION_NAMES) == set(TO_TORCH_ACTIVATIONS) & set(ACTIVATIONS)
    assert {v.loss for v in LOSS_VARIANTS} == {
        "softmax_cross_entropy", "cross_entropy", "nll", "binary_cross_entropy_with_logits", "mse",
    } and {v.loss for v in LOSS_VARIANTS} <= set(LOSSES)
    activations = Counter(c.activation for c in CASES)
    assert set(activations) == set(ACTIVATION_NAMES) and min(activations.values()) >= 30
    variants = Counter(c.variant.label for c in CASES)
    assert len(variants) == len(LOSS_VARIANTS) and min(variants.values()) >= 25
    combos = Counter((c.activation, c.variant.label) for c in CASES)
    assert len(combos) == len(ACTIVATION_NAMES) * len(LOSS_VARIANTS)
    options = Counter((c.reduction, bool(c.l2)) for c in CASES)
    assert len(options) == 4 and min(options.values()) >= 100
    assert Counter(len(c.sizes) - 2 for c in CASES).keys() == {1, 2, 3, 4}
    assert min(Counter(len(c.sizes) - 2 for c in CASES).values()) >= 100
    assert sum(c.batch == 1 for c in CASES) >= 80
    assert sum(c.dropout for c in CASES) >= 80
    widths = {w for c in CASES for w in c.sizes[1:-1]}
    assert widths == set(range(1, 13))
    # the label-weighted mean of the cross-entropy family is exercised with and without smoothing
    for loss in ("softmax_cross_entropy", "cross_entropy", "nll"):
        assert any(v.loss == loss and v.weights and v.targets == "labels" for v in LOSS_VARIANTS)


def test_comparison_rejects_a_small_error() -> None:
    """The checker is sharp: a 1e-8 relative error in one gradient entry, or a 1/m slip, fails."""
    case = next(c for c in CASES if c.variant.label == "sce_w" and c.l2 and c.batch > 1 and c.reduction == "mean")
    problem = make_problem(case)
    ours, theirs = glassnet_result(case, problem), torch_result(case, problem)
    assert_results_match(ours, theirs)
    nudged = {k: v.copy() for k, v in ours.items()}
    nudged["0.W"].flat[0] *= 1 + 1e-8
    nudged["0.W"].flat[0] += 1e-8 * np.max(np.abs(nudged["0.W"]))  # also when that entry is 0
    with pytest.raises(AssertionError):
        assert_results_match(nudged, theirs)
    with pytest.raises(AssertionError):  # the L2 term scaled by lambda/2 instead of lambda/(2m)
        wrong = dict(ours, loss=ours["loss"] + (case.batch - 1) * case.l2 / (2 * case.batch) * sum(
            float(np.sum(problem.model.params()[w] ** 2)) for w in problem.model.weight_names()))
        assert_results_match(wrong, theirs)


def test_softplus_threshold_is_the_only_difference() -> None:
    """Above nn.Softplus's threshold the two differ by log1p(exp(-z)) < exp(-20), and agree below it."""
    z = np.linspace(-30.0, 40.0, 7001)
    ours = get_activation("softplus").forward(z)
    zt = torch.from_numpy(z).requires_grad_(True)
    theirs = nn.Softplus()(zt)
    theirs.sum().backward()
    below, above = z <= SOFTPLUS_MIN_THRESHOLD, z > SOFTPLUS_MIN_THRESHOLD
    np.testing.assert_allclose(ours[below], theirs.detach().numpy()[below], rtol=1e-14, atol=1e-300)
    gap = ours[above] - theirs.detach().numpy()[above]
    # the gap is a difference of two numbers near z, so it is known only to a few ulp(z) ~ 1e-14
    np.testing.assert_allclose(gap, np.log1p(np.exp(-z[above])), rtol=0, atol=1e-14)
    assert np.all(gap[z[above] < 30] > 0)
    assert gap.max() <= np.exp(-SOFTPLUS_MIN_THRESHOLD)
    # derivatives: sigmoid(z) exactly here, 1 in PyTorch above the threshold
    slope = get_activation("softplus").derivative(z)
    np.testing.assert_allclose(slope[below], zt.grad.numpy()[below], rtol=1e-14)
    assert np.all(zt.grad.numpy()[above] == 1.0)
    np.testing.assert_allclose(1.0 - slope[above], np.exp(-z[above]), rtol=0, atol=2.3e-16)  # about ulp(1)


def test_torch_hardsigmoid_gradient_is_float32() -> None:
    """Pins the PyTorch quirk worked around above; if it is fixed, compare nn.Hardsigmoid directly."""
    z = np.linspace(-2.9, 2.9, 59)
    zt = torch.from_numpy(z).requires_grad_(True)
    nn.Hardsigmoid()(zt).sum().backward()
    float32_sixth = float(np.float32(1.0) / np.float32(6.0))
    assert np.all(zt.grad.numpy() == float32_sixth)
    assert abs(float32_sixth * 6 - 1) > 1e-8
    np.testing.assert_allclose(get_activation("hard_sigmoid").derivative(z), 1.0 / 6.0, rtol=1e-15)
    # the substitute agrees with nn.Hardsigmoid's forward and with glassnet's derivative
    zs = torch.from_numpy(z).requires_grad_(True)
    out = Float64Hardsigmoid()(zs)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), nn.Hardsigmoid()(torch.from_numpy(z)).numpy(), rtol=1e-15)
    np.testing.assert_allclose(zs.grad.numpy(), 1.0 / 6.0, rtol=1e-15)
