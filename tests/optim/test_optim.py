"""Tests for glassnet.optim: hand-worked SGD, torch parity, convergence, checkpoints, clipping."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from glassnet.errors import ConfigError, FileFormatError, ShapeError
from glassnet.nn.layers import Dense
from glassnet.nn.losses import SoftmaxCrossEntropy
from glassnet.nn.model import Sequential, mlp
from glassnet.nn.objective import value_and_grad
from glassnet.optim.optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    apply_updates,
    clip_by_global_norm,
    get_optimizer,
    state_from_arrays,
    state_to_arrays,
)
from glassnet.optim.schedules import cosine_with_warmup, step_decay


def _params(rng: np.random.Generator, dtype=np.float64) -> dict[str, np.ndarray]:
    return {"0.W": rng.normal(size=(3, 4)).astype(dtype), "0.b": rng.normal(size=4).astype(dtype)}


def _grads_of(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A deterministic, parameter-dependent stand-in gradient (so errors would compound)."""
    return {name: np.cos(3.0 * p) + 0.5 * p for name, p in params.items()}


# ---------------------------------------------------------------------------- hand-worked SGD


def test_two_sgd_momentum_steps_match_hand_arithmetic():
    """One Dense(2 -> 2), x = [1, 2], label 0, softmax cross-entropy, lr = 0.1, momentum = 0.9.

    Step 1.  W0 = [[0.5, -0.5], [0.25, 0.25]], b0 = [0, 0]
      z = x W0 + b0 = [0.5 + 0.5, -0.5 + 0.5] = [1, 0]
      p = softmax(z) = [e/(1+e), 1/(1+e)] = [0.7310585786300049, 0.2689414213699951]
      g = p - t = [-q, q] with q = 1/(1+e) = 0.2689414213699951
      dW = x^T g = [[-q, q], [-2q, 2q]],  db = [-q, q]
      v1 = 0.9 * 0 + grad = grad
      W1 = W0 - 0.1 v1 = [[0.5 + 0.1q, -0.5 - 0.1q], [0.25 + 0.2q, 0.25 - 0.2q]]
         = [[0.5268941421369995, -0.5268941421369995], [0.303788284273999, 0.196211715726001]]
      b1 = [0.1q, -0.1q]
    Step 2.
      z = [(0.5 + 0.1q) + 2 (0.25 + 0.2q) + 0.1q, (-0.5 - 0.1q) + 2 (0.25 - 0.2q) - 0.1q] = [1 + 0.6q, -0.6q]
      p2 = softmax(z) = [1 - r, r], r = 1 / (1 + exp(1 + 1.2q)) = 0.21036450009067037
      g2 = [-r, r];  dW2 = [[-r, r], [-2r, 2r]],  db2 = [-r, r]
      v2 = 0.9 v1 + grad2 = (0.9q + r) [[-1, 1], [-2, 2]],  0.9q + r = 0.45241177932366594
      W2 = W1 - 0.1 v2 = W0 + c [[1, -1], [2, -2]],  c = 0.1 (1.9q + r) = 0.0721353200693661
         = [[0.5721353200693661, -0.5721353200693661], [0.3942706401387322, 0.1057293598612678]]
      b2 = [c, -c]
    """
    model = Sequential([Dense(2, 2)], rng=np.random.default_rng(0), dtype=np.float64)
    model.set_params({"0.W": np.array([[0.5, -0.5], [0.25, 0.25]]), "0.b": np.zeros(2)})
    X, y = np.array([[1.0, 2.0]]), np.array([0])
    loss = SoftmaxCrossEntropy()
    opt = SGD(lr=0.1, momentum=0.9)
    state = opt.init(model.params())

    q = 0.2689414213699951
    value, _ = value_and_grad(model, loss, X, y)
    assert value == pytest.approx(-math.log(0.7310585786300049), rel=1e-12)
    np.testing.assert_allclose(model.grads()["0.W"], [[-q, q], [-2 * q, 2 * q]], rtol=1e-12)
    np.testing.assert_allclose(model.grads()["0.b"], [-q, q], rtol=1e-12)
    updates, state = opt.update(model.grads(), state, model.params())
    apply_updates(model.params(), updates)
    np.testing.assert_allclose(
        model.params()["0.W"], [[0.5268941421369995, -0.5268941421369995], [0.303788284273999, 0.196211715726001]],
        rtol=1e-12,
    )
    np.testing.assert_allclose(model.params()["0.b"], [0.1 * q, -0.1 * q], rtol=1e-12)

    value_and_grad(model, loss, X, y)
    r = 0.21036450009067037
    np.testing.assert_allclose(model.grads()["0.b"], [-r, r], rtol=1e-12)
    updates, state = opt.update(model.grads(), state, model.params())
    apply_updates(model.params(), updates)
    k = 0.45241177932366594
    np.testing.assert_allclose(state.velocity["0.W"], [[-k, k], [-2 * k, 2 * k]], rtol=1e-12)
    np.testing.assert_allclose(state.velocity["0.b"], [-k, k], rtol=1e-12)
    c = 0.0721353200693661
    np.testing.assert_allclose(
        model.params()["0.W"], [[0.5721353200693661, -0.5721353200693661], [0.3942706401387322, 0.1057293598612678]],
        rtol=1e-12,
    )
    np.testing.assert_allclose(model.params()["0.b"], [c, -c], rtol=1e-12)
    assert state.step == 2


def test_lr_change_applies_at_once_to_the_whole_velocity():
    """PyTorch's convention: after an lr cut the step is new_lr * v, not mu * old_step - new_lr * g."""
    opt = SGD(lr=step_decay(1.0, step_size=2, gamma=0.1), momentum=0.5)
    params = {"w": np.zeros(1)}
    state = opt.init(params)
    g = {"w": np.ones(1)}
    steps = []
    for _ in range(3):
        updates, state = opt.update(g, state)
        steps.append(float(updates["w"][0]))
    # v = 1, 1.5, 1.75; lr = 1, 1, 0.1  ->  steps -1, -1.5, -0.175 (the other convention would give -0.85)
    assert steps == [-1.0, -1.5, pytest.approx(-0.175, rel=1e-15)]


def test_nesterov_step_matches_formula():
    opt = get_optimizer("nesterov", lr=0.1)  # momentum 0.9 by default
    state = opt.init({"w": np.zeros(2)})
    g = {"w": np.array([1.0, -2.0])}
    updates, state = opt.update(g, state)
    np.testing.assert_allclose(updates["w"], -0.1 * (g["w"] + 0.9 * g["w"]), rtol=1e-15)  # v = g
    updates, state = opt.update(g, state)
    v = 1.9 * g["w"]
    np.testing.assert_allclose(updates["w"], -0.1 * (g["w"] + 0.9 * v), rtol=1e-15)


def test_schedule_is_called_with_step_starting_at_zero():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.5

    opt = SGD(lr=schedule)
    state = opt.init({"w": np.zeros(1)})
    for _ in range(3):
        _, state = opt.update({"w": np.ones(1)}, state)
    assert seen == [0, 1, 2]
    assert state.step == 3


def test_first_adam_step_is_lr_times_sign():
    opt = Adam(lr=0.01)
    state = opt.init({"w": np.zeros(3)})
    updates, _ = opt.update({"w": np.array([3.0, -0.2, 50.0])}, state)
    np.testing.assert_allclose(updates["w"], [-0.01, 0.01, -0.01], rtol=1e-6)


def test_adamw_decay_is_decoupled_from_the_moments():
    w = np.array([2.0, -4.0])
    opt = AdamW(lr=0.1, weight_decay=0.01)
    updates, state = opt.update({"w": np.zeros(2)}, opt.init({"w": w}), {"w": w})
    np.testing.assert_array_equal(updates["w"], -0.1 * 0.01 * w)  # the Adam part is exactly 0 for g = 0
    np.testing.assert_array_equal(state.exp_avg["w"], 0.0)
    coupled = Adam(lr=0.1, weight_decay=0.01)
    updates, state = coupled.update({"w": np.zeros(2)}, coupled.init({"w": w}), {"w": w})
    np.testing.assert_allclose(updates["w"], [-0.1, 0.1], rtol=1e-6)  # wd * w went through Adam's normalisation


# ---------------------------------------------------------------------------- parity with PyTorch

TORCH_CASES = [
    ("sgd", {"lr": 0.1}, "SGD", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9}, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05}, "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05}),
    ("nesterov", {"lr": 0.1}, "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("nesterov", {"lr": 0.1, "weight_decay": 0.05}, "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("adam", {"lr": 0.01}, "Adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.1}, "Adam",
     {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.01}, "AdamW", {"lr": 0.01}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.3}, "AdamW", {"lr": 0.01, "weight_decay": 0.3}),
    ("rmsprop", {"lr": 0.01}, "RMSprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.05}, "RMSprop",
     {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.05}),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}, "RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}),
    ("adagrad", {"lr": 0.1}, "Adagrad", {"lr": 0.1}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}, "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("sgd", {"lr": 0.1, "momentum": 0.5, "dampening": 1.0, "weight_decay": 0.05}, "SGD",
     {"lr": 0.1, "momentum": 0.5, "dampening": 1.0, "weight_decay": 0.05}),
    ("adam", {"lr": 0.05, "amsgrad": True}, "Adam", {"lr": 0.05, "amsgrad": True}),
    ("adam", {"lr": 0.05, "beta2": 0.5, "amsgrad": True, "weight_decay": 0.1}, "Adam",
     {"lr": 0.05, "betas": (0.9, 0.5), "amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.3}, "AdamW", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.3}),
    ("adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.05}, "Adagrad",
     {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.05}),
]


@pytest.mark.parametrize(("name", "kwargs", "torch_name", "torch_kwargs"), TORCH_CASES)
def test_five_steps_match_torch_in_float64(name, kwargs, torch_name, torch_kwargs):
    torch = pytest.importorskip("torch")
    params = _params(np.random.default_rng(1))
    torch_params = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    torch_opt = getattr(torch.optim, torch_name)(list(torch_params.values()), **torch_kwargs)
    opt = get_optimizer(name, **kwargs)
    state = opt.init(params)
    for _ in range(5):
        updates, state = opt.update(_grads_of(params), state, params)
        apply_updates(params, updates)
        torch_grads = _grads_of({k: t.detach().numpy() for k, t in torch_params.items()})
        for k, t in torch_params.items():
            t.grad = torch.from_numpy(torch_grads[k])
        torch_opt.step()
    for k, t in torch_params.items():
        np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-12, atol=0)


def test_sgd_momentum_with_changing_lr_matches_torch():
    torch = pytest.importorskip("torch")
    schedule = cosine_with_warmup(0.2, total_steps=6, warmup_steps=2)
    params = _params(np.random.default_rng(2))
    torch_params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    torch_opt = torch.optim.SGD(list(torch_params.values()), lr=1.0, momentum=0.9)
    opt = SGD(lr=schedule, momentum=0.9)
    state = opt.init(params)
    for step in range(6):
        updates, state = opt.update(_grads_of(params), state)
        apply_updates(params, updates)
        torch_grads = _grads_of({k: t.detach().numpy() for k, t in torch_params.items()})
        for k, t in torch_params.items():
            t.grad = torch.from_numpy(torch_grads[k])
        torch_opt.param_groups[0]["lr"] = schedule(step)
        torch_opt.step()
    for k, t in torch_params.items():
        np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- convergence

#: a learning rate for the toy problem; optimizers not listed use their own default.
TOY_LR = {"sgd": 0.5, "nesterov": 0.2, "adam": 0.05, "adamw": 0.05, "rmsprop": 0.01, "adagrad": 0.2}


def _blobs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = np.repeat(np.arange(3), 40)
    X = centres[y] + rng.normal(scale=0.7, size=(y.size, 2))
    return X, y


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_fits_separable_blobs(name):
    rng = np.random.default_rng(3)
    X, y = _blobs(rng)
    model = mlp([2, 8, 3], "tanh", rng=np.random.default_rng(4), dtype=np.float64)
    loss = SoftmaxCrossEntropy()
    opt = get_optimizer(name, **({"lr": TOY_LR[name]} if name in TOY_LR else {}))
    state = opt.init(model.params())
    first, _ = value_and_grad(model, loss, X, y)
    for _ in range(60):
        value, _ = value_and_grad(model, loss, X, y)
        updates, state = opt.update(model.grads(), state, model.params())
        apply_updates(model.params(), updates)
    assert first > 0.5
    assert value < 0.05, f"{name}: loss {value:.4f} after 60 steps"
    assert np.mean(model.predict(X) == y) == 1.0


# ---------------------------------------------------------------------------- state, checkpoints, buffers

STATE_CASES = [(name, {}) for name in sorted(OPTIMIZERS)] + [
    ("sgd", {"momentum": 0.9, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.9, "centered": True}),
    ("adam", {"weight_decay": 0.1}),
    ("adagrad", {"initial_accumulator_value": 0.1}),
]


@pytest.mark.parametrize(("name", "kwargs"), STATE_CASES)
def test_state_round_trip_through_npz_gives_bit_identical_updates(name, kwargs):
    opt = get_optimizer(name, **kwargs)
    params = _params(np.random.default_rng(5), np.float32)
    state = opt.init(params)
    for _ in range(3):
        updates, state = opt.update(_grads_of(params), state, params)
        apply_updates(params, updates)
    buffer = io.BytesIO()
    np.savez(buffer, **state_to_arrays(state))
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        loaded = {key: npz[key] for key in npz.files}
    params_copy = {k: v.copy() for k, v in params.items()}
    restored = state_from_arrays(get_optimizer(name, **kwargs), params_copy, loaded)
    assert restored.step == state.step == 3
    for _ in range(3):
        updates, state = opt.update(_grads_of(params), state, params)
        apply_updates(params, updates)
        updates2, restored = opt.update(_grads_of(params_copy), restored, params_copy)
        apply_updates(params_copy, updates2)
        for k in params:
            assert updates[k].dtype == np.float32
            np.testing.assert_array_equal(updates[k], updates2[k])
    for k in params:
        np.testing.assert_array_equal(params[k], params_copy[k])


def test_state_to_arrays_names_and_copies():
    opt = SGD(lr=0.1, momentum=0.9)
    params = {"0.W": np.ones((2, 2))}
    updates, state = opt.update({"0.W": np.ones((2, 2))}, opt.init(params))
    arrays = state_to_arrays(state)
    assert sorted(arrays) == ["step", "velocity/0.W"]  # scratch buffers are not saved
    assert arrays["step"].dtype == np.int64 and int(arrays["step"]) == 1
    arrays["velocity/0.W"][...] = 7.0
    np.testing.assert_array_equal(state.velocity["0.W"], 1.0)


def test_state_from_arrays_rejects_foreign_state():
    params = {"0.W": np.ones((2, 2))}
    adam_arrays = state_to_arrays(Adam().init(params))
    with pytest.raises(FileFormatError, match="missing .*velocity/0.W"):
        state_from_arrays(SGD(momentum=0.9), params, adam_arrays)
    sgd_arrays = state_to_arrays(SGD(momentum=0.9).init(params))
    sgd_arrays["velocity/0.W"] = np.ones((3, 2))
    with pytest.raises(FileFormatError, match=r"shape \(3, 2\)"):
        state_from_arrays(SGD(momentum=0.9), params, sgd_arrays)
    sgd_arrays = state_to_arrays(SGD(momentum=0.9).init(params))
    sgd_arrays["step"] = np.array(1.5)
    with pytest.raises(FileFormatError, match="step"):
        state_from_arrays(SGD(momentum=0.9), params, sgd_arrays)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_are_reused_buffers_and_grads_are_not_modified(name):
    opt = get_optimizer(name, weight_decay=0.1)
    params = _params(np.random.default_rng(6))
    state = opt.init(params)
    grads = _grads_of(params)
    grads_before = {k: v.copy() for k, v in grads.items()}
    first, state = opt.update(grads, state, params)
    first_arrays = dict(first)
    second, state = opt.update(grads, state, params)
    for k in params:
        assert second[k] is first_arrays[k]  # no allocation per step: valid until the next call
        np.testing.assert_array_equal(grads[k], grads_before[k])


def test_float32_params_stay_float32_with_a_float64_schedule():
    opt = SGD(lr=lambda step: np.float64(0.1), momentum=0.9)
    params = _params(np.random.default_rng(7), np.float32)
    updates, state = opt.update(_grads_of(params), opt.init(params), params)
    assert all(u.dtype == np.float32 for u in updates.values())
    assert all(v.dtype == np.float32 for v in state.velocity.values())


def test_mismatched_grads_raise_shape_error():
    opt = SGD(momentum=0.9)
    state = opt.init({"w": np.zeros((3, 4))})
    with pytest.raises(ShapeError, match=r"gradient w has shape \(4,\)"):
        opt.update({"w": np.zeros(4)}, state)  # would broadcast silently into the (3, 4) buffer
    with pytest.raises(ShapeError, match="missing \\['w'\\], unexpected \\['v'\\]"):
        opt.update({"v": np.zeros((3, 4))}, state)


def test_weight_decay_without_params_is_an_error():
    opt = SGD(weight_decay=0.1)
    state = opt.init({"w": np.zeros(2)})
    with pytest.raises(ConfigError, match="needs the current parameters"):
        opt.update({"w": np.zeros(2)}, state)


def test_schedule_returning_garbage_is_reported():
    opt = SGD(lr=lambda step: float("nan"))
    with pytest.raises(ConfigError, match="returned nan at step 0"):
        opt.update({"w": np.zeros(1)}, opt.init({"w": np.zeros(1)}))


# ---------------------------------------------------------------------------- registry and config


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_config_is_json_and_rebuilds_the_optimizer(name):
    opt = get_optimizer(name, lr=cosine_with_warmup(0.1, total_steps=100, warmup_steps=5))
    config = json.loads(json.dumps(opt.config()))
    clone = get_optimizer(name, **config)
    assert type(clone) is type(opt) and clone.config() == opt.config()
    assert clone.learning_rate(3) == opt.learning_rate(3) == pytest.approx(0.08)
    assert OPTIMIZERS[name].name == name


def test_nesterov_registry_entry_is_sgd_with_nesterov():
    opt = get_optimizer("nesterov")
    assert isinstance(opt, SGD) and opt.nesterov and opt.momentum == 0.9


def test_unknown_optimizer_lists_known_names():
    with pytest.raises(ConfigError, match="unknown optimizer 'sgdd'; known optimizers: adagrad, adam, adamw"):
        get_optimizer("sgdd")
    with pytest.raises(ConfigError, match="bad arguments for optimizer 'adam'.*betas"):
        get_optimizer("adam", betas=(0.9, 0.99))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("sgd", {"lr": 0.0}, "lr must be a positive finite number or a schedule"),
        ("sgd", {"lr": -0.1}, "lr must be a positive finite number"),
        ("sgd", {"lr": float("inf")}, "lr must be a positive finite number"),
        ("sgd", {"lr": "0.1"}, "lr must be a positive finite number"),
        ("sgd", {"lr": True}, "lr must be a positive finite number"),
        ("sgd", {"momentum": 1.0}, r"momentum must be a finite number in \[0, 1\), got 1.0"),
        ("sgd", {"momentum": -0.1}, r"momentum must be a finite number in \[0, 1\)"),
        ("sgd", {"nesterov": True}, "needs momentum > 0"),
        ("sgd", {"momentum": 0.9, "nesterov": True, "dampening": 0.1}, "needs dampening 0"),
        ("sgd", {"dampening": 1.5}, r"dampening must be a finite number in \[0, 1\]"),
        ("adam", {"amsgrad": "yes"}, "amsgrad must be True or False"),
        ("sgd", {"weight_decay": -1}, "weight_decay must be a finite number >= 0, got -1"),
        ("adam", {"beta1": 1.0}, r"beta1 must be a finite number in \[0, 1\)"),
        ("adam", {"beta2": float("nan")}, "beta2 must be a finite number"),
        ("adam", {"eps": -1e-8}, "eps must be a finite number >= 0"),
        ("rmsprop", {"alpha": 1.5}, "alpha must be"),
        ("rmsprop", {"centered": "yes"}, "centered must be True or False"),
        ("adagrad", {"initial_accumulator_value": -1}, "initial_accumulator_value must be"),
        ("adagrad", {"lr": {"name": "custom", "repr": "<lambda>"}}, "cannot be rebuilt"),
    ],
)
def test_invalid_hyperparameters_raise_config_error(name, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        get_optimizer(name, **kwargs)


# ---------------------------------------------------------------------------- gradient clipping


def test_clip_by_global_norm_scales_to_max_norm():
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([[12.0]])}  # norm sqrt(9 + 16 + 144) = 13
    norm = clip_by_global_norm(grads, 6.5)
    assert norm == 13.0
    np.testing.assert_allclose(grads["a"], [1.5, 2.0], rtol=1e-15)
    np.testing.assert_allclose(grads["b"], [[6.0]], rtol=1e-15)


def test_clip_by_global_norm_leaves_small_and_nonfinite_grads_alone():
    grads = {"a": np.array([3.0, 4.0])}
    assert clip_by_global_norm(grads, 5.0) == 5.0
    np.testing.assert_array_equal(grads["a"], [3.0, 4.0])
    grads = {"a": np.array([np.nan, 4.0])}
    assert math.isnan(clip_by_global_norm(grads, 1.0))
    np.testing.assert_array_equal(grads["a"], [np.nan, 4.0])


def test_clip_by_global_norm_float32_does_not_overflow():
    grads = {"a": np.array([3e20, 4e20], dtype=np.float32)}  # the float32 sum of squares overflows
    norm = clip_by_global_norm(grads, 1.0)
    assert norm == pytest.approx(5e20, rel=1e-6)
    np.testing.assert_allclose(grads["a"], [0.6, 0.8], rtol=1e-6)


def test_clip_by_global_norm_rejects_bad_max_norm():
    with pytest.raises(ConfigError, match="max_norm must be a finite number > 0"):
        clip_by_global_norm({"a": np.ones(2)}, 0.0)


def test_defaults_agree_with_pytorch_except_where_documented():
    """optim said its defaults were PyTorch's; SGD's lr is 0.01 and PyTorch's 0.001. The differences and the
    PyTorch options glassnet lacks (maximize, Adagrad's lr_decay) are listed, and this test holds the lists
    to torch's signatures."""
    import inspect

    torch = pytest.importorskip("torch")
    from glassnet.optim.optimizers import DIFFERS_FROM_PYTORCH, NOT_IMPLEMENTED, OPTIMIZERS

    ours_to_torch = {"sgd": "SGD", "nesterov": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                     "adagrad": "Adagrad"}
    assert set(ours_to_torch) == set(OPTIMIZERS)
    skip = {"params", "foreach", "capturable", "differentiable", "fused", "nesterov"}
    for name, cls in OPTIMIZERS.items():
        theirs = {k: v.default for k, v in inspect.signature(getattr(torch.optim, ours_to_torch[name])).parameters.items()
                  if k not in skip}
        if "betas" in theirs:
            theirs["beta1"], theirs["beta2"] = theirs.pop("betas")
        ours = {k: v.default for k, v in inspect.signature(cls).parameters.items() if k != "nesterov"}
        differs = DIFFERS_FROM_PYTORCH.get(name, {})
        for key, value in ours.items():
            if key in differs:
                assert (value, theirs[key]) == differs[key][:2], (name, key)
            else:
                assert value == theirs[key], (name, key, value, theirs[key])
        assert set(theirs) - set(ours) == set(NOT_IMPLEMENTED[name]), name


def test_sgd_dampening_first_step_is_the_raw_gradient():
    """torch's first velocity is g itself; dampening applies from the second step on."""
    opt = SGD(lr=1.0, momentum=0.5, dampening=0.5)
    state = opt.init({"w": np.zeros(1)})
    u, state = opt.update({"w": np.array([2.0])}, state)
    assert u["w"][0] == -2.0
    u, state = opt.update({"w": np.array([2.0])}, state)
    assert u["w"][0] == -(0.5 * 2.0 + 0.5 * 2.0)
