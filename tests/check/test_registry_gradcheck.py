"""Registry-wide gradient checks: every activation, every layer, every loss (in every target form), every
activation and loss inside an mlp, with and without L2.

Each test loops over a registry (``ACTIVATIONS``, ``LAYERS``, ``LOSSES``), so a new entry is checked
here the moment it is registered; a new layer type fails :func:`test_every_registered_layer_has_an_example`
until an example instance is added to ``LAYER_EXAMPLES``.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from glassnet import ACTIVATIONS, LAYERS, LOSSES, NORMS, Activation, BatchNorm, Dense, Dropout, LayerNorm, Softmax, mlp
from glassnet.nn.layers import LogSoftmax
from glassnet.check.gradcheck import check_layer, check_loss, gradcheck
from glassnet.core.numerics import log_softmax, softmax

ACTIVATION_NAMES = sorted(ACTIVATIONS)
LOSS_NAMES = sorted(LOSSES)
RTOL = 1e-6


def _assert_fully_accounted(report) -> None:
    """Every entry of every tensor is either checked or skipped at a kink (tensors here are small)."""
    for t in report.tensors:
        assert isinstance(t.n_kink_skipped, int) and t.n_kink_skipped >= 0
        assert t.n_checked + t.n_kink_skipped == int(np.prod(t.shape)), t.name
    assert isinstance(report.n_kink_skipped, int) and report.n_kink_skipped >= 0


def _assert_passed(report) -> None:
    assert report.passed, str(report)
    assert report.max_rel_error < RTOL, str(report)
    for t in report.tensors:
        assert t.passed and t.max_rel_error < RTOL, str(report)
        if t.analytic_norm > 1e-8:
            assert t.ratio == pytest.approx(1.0, abs=1e-6), str(report)
    table = str(report)
    for t in report.tensors:
        assert t.name in table


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_layer_passes_check_layer(name):
    report = check_layer(Activation(name), (5, 7))
    _assert_passed(report)
    _assert_fully_accounted(report)
    assert [t.name for t in report.tensors] == ["input"]
    assert report.dtype == np.float64


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_kinks_are_skipped_and_counted_exactly(name):
    """Inputs within 5e-4 of a declared kink (the 5-point stencil reaches 2h = 2e-3) are skipped, others checked."""
    act = ACTIVATIONS[name]()
    far = np.array([-2.5, -0.6, 0.45, 1.7, 2.2])
    far = far[np.all(np.abs(far[:, None] - np.asarray(act.kinks + (1e9,))[None, :]) > 0.1, axis=1)]
    near = np.array([k + d for k in act.kinks for d in (-5e-4, 0.0, 5e-4)])
    X = np.concatenate([far, near])[None, :]
    report = check_layer(Activation(name), X.shape, X=X)
    _assert_passed(report)
    assert report.n_kink_skipped == near.size
    assert report["input"].n_checked == far.size


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_mlp_with_each_activation_passes_gradcheck(name):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    model = mlp([4, 5, 3], name, rng=0)  # float32; the checker works on a float64 copy
    report = gradcheck(model, LOSSES["softmax_cross_entropy"](), X, y, l2=0.1)
    _assert_passed(report)
    _assert_fully_accounted(report)
    assert [t.name for t in report.tensors] == ["0.W", "0.b", "2.W", "2.b", "input"]
    assert report.dtype == np.float64
    if not ACTIVATIONS[name].kinks:
        assert report.n_kink_skipped == 0


def test_relu_mlp_reports_its_kink_count_honestly():
    # Biases of zero and inputs with exact zeros put pre-activations right on relu's kink.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 4))
    X[:, 0] = 0.0
    model = mlp([4, 5, 3], "relu", rng=0, dtype=np.float64)
    model.params()["0.W"][1:, :2] = 0.0  # columns 0 and 1 of layer 0 see only X[:, 0] = 0: z = 0 exactly
    y = rng.integers(0, 3, 6)
    report = gradcheck(model, LOSSES["softmax_cross_entropy"](), X, y)
    _assert_passed(report)
    _assert_fully_accounted(report)
    # perturbing b_0[0] or b_0[1] moves 6 pre-activations off 0: both entries must be skipped, not checked
    assert report["0.b"].n_kink_skipped >= 2
    assert report.n_kink_skipped == sum(t.n_kink_skipped for t in report.tensors)


# ---------------------------------------------------------------- layers
def _randomised(layer, seed: int = 7):
    """``layer`` initialised, then every parameter and state array drawn at random.

    gamma = 1, beta = 0 and running statistics (0, 1) would hide a mistake that
    drops gamma, adds beta to the input gradient or ignores the running mean.
    """
    rng = np.random.default_rng(seed)
    layer.initialize(rng, np.float64)
    for array in layer.params.values():
        array[...] = rng.uniform(0.5, 2.0, array.shape) * rng.choice([-1.0, 1.0], array.shape)
    for name, array in layer.state.items():
        array[...] = rng.uniform(0.3, 2.0, array.shape) if name.endswith("var") else rng.normal(0, 0.5, array.shape)
    return layer


LAYER_EXAMPLES = {
    "Dense": [Dense(4, 3), Dense(4, 1, init="he_normal")],
    "Activation": [Activation("tanh"), Activation("leaky_relu", slope=0.2)],
    "Softmax": [Softmax()],
    "LogSoftmax": [LogSoftmax()],
    "Dropout": [Dropout(0.3)],
    "BatchNorm": [_randomised(BatchNorm(4)), _randomised(BatchNorm(4, eps=0.1, momentum=0.3, affine=False))],
    "LayerNorm": [_randomised(LayerNorm(4)), _randomised(LayerNorm(4, eps=0.1, affine=False))],
}


def test_every_registered_layer_has_an_example():
    missing = set(LAYERS) - set(LAYER_EXAMPLES)
    assert not missing, f"add example instances for {sorted(missing)} to LAYER_EXAMPLES"


@pytest.mark.parametrize(
    "layer", [layer for name in sorted(LAYER_EXAMPLES) for layer in LAYER_EXAMPLES[name]], ids=lambda l: l.describe()
)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
def test_every_layer_passes_check_layer(layer, training):
    report = check_layer(layer, (5, 4), training=training)
    _assert_passed(report)
    _assert_fully_accounted(report)
    expected = {Dense: ["W", "b"]}.get(type(layer), ["gamma", "beta"] if layer.params else [])
    assert [t.name for t in report.tensors] == expected + ["input"]
    assert report.training is training


def test_dense_reports_every_parameter():
    report = check_layer(Dense(4, 3), (5, 4))
    assert [t.name for t in report.tensors] == ["W", "b", "input"]
    assert [t.shape for t in report.tensors] == [(4, 3), (3,), (5, 4)]


def test_dropout_in_training_mode_passes_with_a_fixed_mask():
    report = check_layer(Dropout(0.3), (6, 5), training=True)
    _assert_passed(report)
    grad_input = report["input"].analytic
    # the mask really is in play: some inputs are dropped (zero gradient), the rest scaled by 1/0.7
    dropped = grad_input == 0
    assert 0 < dropped.sum() < grad_input.size


# ---------------------------------------------------------------- losses
def _outputs(expects: str, m: int, k: int, rng: np.random.Generator) -> np.ndarray:
    logits = 0.5 * rng.standard_normal((m, k))
    if expects == "probs":
        return softmax(logits)
    if expects == "log_probs":
        return log_softmax(logits)
    return logits


def _loss_cases():
    """(id, loss, outputs, targets) for every registered loss, target form and option it supports.

    The registry is read at call time, so an entry added by a test (tests/test_extending.py) is covered.
    """
    rng = np.random.default_rng(2)
    m, k = 5, 4
    labels = rng.integers(0, k, m)
    targets = {
        "labels": labels,
        "onehot": np.eye(k)[labels],
        "soft": rng.dirichlet(np.ones(k), m),
    }
    cases = []
    for name in sorted(LOSSES):
        cls = LOSSES[name]
        accepted = inspect.signature(cls).parameters
        options: list[dict] = [{}, {"reduction": "sum"}]
        if "label_smoothing" in accepted:
            options.append({"label_smoothing": 0.1})
        if "class_weights" in accepted:
            options.append({"class_weights": [0.5, 1.0, 2.0, 1.5]})
            options.append({"class_weights": [0.5, 1.0, 2.0, 1.5], "label_smoothing": 0.2, "reduction": "sum"})
        forms = dict(targets)
        if name == "binary_cross_entropy_with_logits":
            forms["independent"] = rng.uniform(0, 1, (m, k))  # rows need not sum to 1
        for opts in options:
            for form, tgt in forms.items():
                outputs = _outputs(cls.expects, m, k, rng)
                cases.append(pytest.param(cls(**opts), outputs, tgt, id=f"{name}-{form}-{opts}"))
        if name == "binary_cross_entropy_with_logits":
            cases.append(pytest.param(cls(), rng.standard_normal((m, 1)), rng.integers(0, 2, m), id=f"{name}-binary"))
    return cases


@pytest.mark.parametrize("loss, outputs, targets", _loss_cases())
def test_every_loss_passes_check_loss(loss, outputs, targets):
    report = check_loss(loss, outputs, targets)
    _assert_passed(report)
    assert report["outputs"].n_checked == outputs.size


def test_every_constructor_argument_of_every_loss_is_exercised():
    """The cases above are built from the registry, so every loss has some; what can be missed is an option.
    Each constructor argument of each registered loss must be given a non-default value by some case, so a
    loss that gains an argument fails here until the cases exercise it."""
    exercised: dict[str, set[str]] = {name: set() for name in LOSSES}
    for case in _loss_cases():
        loss = case.values[0]
        default = type(loss)().config()
        exercised[loss.name] |= {key for key, value in loss.config().items() if value != default.get(key)}
    missing = {name: sorted(set(inspect.signature(cls).parameters) - exercised[name])
               for name, cls in LOSSES.items()}
    assert not any(missing.values()), f"constructor arguments no case exercises: {missing}"


# ---------------------------------------------------------------- losses inside an mlp, with L2
def _mlp_for(loss_name: str):
    """An mlp whose output suits the loss: a Softmax layer for probabilities, raw outputs otherwise.

    No LogSoftmax layer exists, so NLL is fed the raw outputs: NLL is linear in them, which is all
    a gradient check needs.
    """
    expects = LOSSES[loss_name].expects
    return mlp([4, 5, 3], "tanh", output="softmax" if expects == "probs" else "logits", rng=0)


@pytest.mark.parametrize("l2", [0.0, 0.7])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_mlp_with_each_loss_passes_gradcheck(loss_name, reduction, l2):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    report = gradcheck(_mlp_for(loss_name), LOSSES[loss_name](reduction=reduction), X, y, l2=l2)
    _assert_passed(report)
    _assert_fully_accounted(report)
    assert report.n_kink_skipped == 0


@pytest.mark.parametrize("loss_name", LOSS_NAMES)
def test_mlp_with_each_loss_and_soft_targets(loss_name):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 4))
    T = rng.dirichlet(np.ones(3), 6)
    report = gradcheck(_mlp_for(loss_name), LOSSES[loss_name](), X, T, l2=0.2)
    _assert_passed(report)


def test_relu_mlp_with_dropout_training_and_l2():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    model = mlp([4, 8, 6, 3], "relu", dropout=0.3, rng=0)
    report = gradcheck(model, LOSSES["softmax_cross_entropy"](label_smoothing=0.1), X, y, l2=0.5, training=True)
    _assert_passed(report)
    _assert_fully_accounted(report)
    assert [t.name for t in report.tensors] == ["0.W", "0.b", "3.W", "3.b", "6.W", "6.b", "input"]


# ---------------------------------------------------------------- normalisation layers inside an mlp
@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
@pytest.mark.parametrize("norm", sorted(NORMS))
def test_mlp_with_each_norm_passes_gradcheck(norm, training):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    model = mlp([4, 5, 4, 3], "tanh", norm=norm, dropout=0.2, rng=0)
    for i, layer in enumerate(model.layers):  # not the trivial gamma = 1, beta = 0, running (0, 1)
        if layer.params and not isinstance(layer, Dense):
            model.layers[i] = _randomised(layer, seed=i)
    report = gradcheck(model, LOSSES["softmax_cross_entropy"](), X, y, l2=0.4, training=training)
    _assert_passed(report)
    _assert_fully_accounted(report)
    assert [t.name for t in report.tensors] == [
        "0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b", "5.gamma", "5.beta", "8.W", "8.b", "input"]
