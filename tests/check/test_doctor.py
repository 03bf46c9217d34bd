"""Each doctor detector on a run made to show its fault, and on a healthy run that must not raise it."""

from __future__ import annotations

import numpy as np

import glassnet as gn
from glassnet.check.findings import Finding
from glassnet.check.doctor import (
    Doctor,
    check_data,
    check_initial_loss,
    collapse,
    examine_history,
    examine_model,
    overfit_batch,
    unit_health,
)
from glassnet.nn.layers import Dense
from glassnet.nn.losses import SoftmaxCrossEntropy
from glassnet.optim.optimizers import SGD
from glassnet.train.loop import EpochRecord, History, fit

from test_gradcheck import FlippedDense


def blobs(n_per_class=30, n_classes=3, dim=6, seed=0, spread=0.6):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, dim))
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    perm = rng.permutation(y.size)
    return X[perm].astype(np.float32), y[perm]


def run_with_doctor(model, X, y, *, lr, batch_size, epochs=3, every=5, momentum=0.0, **kw):
    doctor = Doctor(X[:30], y[:30], every=every)
    fit(model, X, y, optimizer=SGD(lr=lr, momentum=momentum), epochs=epochs, batch_size=batch_size, rng=0,
        callbacks=[doctor], **kw)
    return {f.code: f for f in doctor.report()}


def test_healthy_run_raises_nothing():
    X, y = blobs()
    found = run_with_doctor(gn.mlp([6, 16, 3], "relu", rng=0), X, y, lr=0.05, batch_size=8, epochs=5, momentum=0.9)
    assert found == {}


def test_online_training_that_lost_the_input_follows_the_last_label():
    # Every hidden relu is dead, so only the output bias learns: with per-sample steps of a large
    # learning rate the prediction becomes the label of the sample just trained on.
    X, y = blobs()
    model = gn.mlp([6, 16, 3], "relu", rng=0)
    model.params()["0.b"][:] = -100.0
    found = run_with_doctor(model, X, y, lr=2.0, batch_size=1, epochs=2, every=10)
    assert "follows-last-label" in found
    assert "label of the sample just trained on" in found["follows-last-label"].evidence


def test_online_training_with_a_sane_step_does_not():
    X, y = blobs()
    found = run_with_doctor(gn.mlp([6, 16, 3], "tanh", rng=0), X, y, lr=0.01, batch_size=1, epochs=2, every=10)
    assert "follows-last-label" not in found and "collapse" not in found


def test_exploding_updates_are_flagged():
    X, y = blobs()
    found = run_with_doctor(gn.mlp([6, 16, 3], "tanh", rng=0), X, y, lr=50.0, batch_size=16, epochs=1, every=1,
                            clip_norm=1e6)
    assert "exploding" in found and "||update|| / ||W||" in found["exploding"].evidence


def test_vanishing_gradients_in_a_deep_sigmoid_net():
    X, y = blobs()
    model = gn.mlp([6] + [16] * 8 + [3], "sigmoid", init="glorot_uniform", rng=0)
    found = run_with_doctor(model, X, y, lr=0.01, batch_size=16, epochs=1, every=1)
    assert "vanishing" in found
    healthy = run_with_doctor(gn.mlp([6, 16, 16, 3], "relu", rng=0), X, y, lr=0.01, batch_size=16, epochs=1, every=1)
    assert "vanishing" not in healthy


def test_saturated_tanh_units():
    X, y = blobs()
    model = gn.mlp([6, 16, 3], "tanh", rng=0)
    found, stats = unit_health(model, X * 100)
    assert [f.code for f in found] == ["saturated"] and stats["1.saturated"] > 0.5
    assert unit_health(model, X)[0] == []


def test_dead_relu_units():
    X, y = blobs()
    model = gn.mlp([6, 16, 3], "relu", rng=0)
    assert unit_health(model, X)[0] == []
    model.params()["0.b"][:] = -100.0
    found, stats = unit_health(model, X)
    assert [f.code for f in found] == ["dead-relu"] and stats["1.dead"] == 1.0


def test_collapse_onto_one_class():
    X, y = blobs()
    model = gn.mlp([6, 16, 3], "relu", rng=0)
    model.params()["2.b"][1] = 1e3
    found = examine_model(model, X, y)
    assert [f.code for f in found] == ["collapse"] and "class 1" in found[0].evidence
    assert collapse(y.copy(), y) == []


def test_loss_curves_plateau_and_overfitting():
    def history(train, val):
        return History([EpochRecord(i + 1, t, 0.5, v) for i, (t, v) in enumerate(zip(train, val))])

    assert [f.code for f in examine_history(history([1.0, 1.0, 0.999, 0.998, 0.999], [1.0] * 5))] == ["plateau"]
    over = examine_history(history([1.0, 0.8, 0.6, 0.4, 0.2], [1.0, 0.9, 0.95, 1.0, 1.1]))
    assert [f.code for f in over] == ["overfitting"]
    assert examine_history(history([1.0, 0.8, 0.6, 0.4, 0.2], [1.0, 0.9, 0.8, 0.7, 0.6])) == []
    assert [f.code for f in examine_history(history([1.0, float("nan")], [1.0, 1.0]))] == ["non-finite"]


def test_plateau_detected_on_a_real_run_with_a_tiny_learning_rate():
    X, y = blobs()
    found = run_with_doctor(gn.mlp([6, 16, 3], "relu", rng=0), X, y, lr=1e-7, batch_size=16, epochs=5)
    assert "plateau" in found or "tiny-updates" in found


def test_initial_loss_far_from_ln_c():
    X, y = blobs()
    model = gn.mlp([6, 16, 3], "relu", rng=0)
    assert check_initial_loss(model, SoftmaxCrossEntropy(), X, y) == []
    model.params()["2.W"][:] *= 100
    found = check_initial_loss(model, SoftmaxCrossEntropy(), X, y)
    assert [f.code for f in found] == ["init-loss"] and "ln 3" in found[0].evidence


def test_data_problems_before_training():
    X, y = blobs()
    assert check_data(X, y, 3) == []
    codes = [f.code for f in check_data(X * 255 + 128, y, 3)]
    assert codes == ["unscaled"]
    order = np.argsort(y, kind="stable")
    assert [f.code for f in check_data(X[order], y[order], 3)] == ["sorted"]
    imbalanced = np.concatenate([np.zeros(200, int), np.ones(5, int)])
    rng = np.random.default_rng(0)
    codes = [f.code for f in check_data(rng.standard_normal((205, 2)), rng.permutation(imbalanced), 2)]
    assert codes == ["imbalance"]


def test_overfit_batch_succeeds_on_a_sound_network_and_fails_on_a_broken_one():
    X, y = blobs()
    good = overfit_batch(gn.mlp([6, 32, 3], "relu", rng=0), SoftmaxCrossEntropy(), X[:16], y[:16])
    assert good.can_overfit and good.final_loss < 0.05 and good.accuracy == 1.0
    broken_model = gn.Sequential([Dense(6, 32), gn.Activation("relu"), FlippedDense(32, 3)], rng=0)
    broken = overfit_batch(broken_model, SoftmaxCrossEntropy(), X[:16], y[:16])
    assert not broken.can_overfit and "PROBLEM" in str(broken)


def test_the_saved_configuration_names_online_training_with_a_big_step():
    from glassnet.check.doctor import examine_config

    saturated = Finding("saturated", "saturated sigmoid units", "100% flat", "scale the inputs")
    [finding] = examine_config({"batch_size": 1, "lr": 5.0}, [saturated])
    assert finding.code == "online-big-step" and "lr 5, batch size 1" in finding.title
    assert "saturated sigmoid units" in finding.evidence
    assert examine_config({"batch_size": 1, "lr": 0.05}, []) == []
    assert examine_config({"batch_size": 32, "lr": 5.0}, []) == []
