"""The training loop: convergence, batching modes, validation, early stopping, reproducibility, faults."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError, DataError, NonFiniteError
from glassnet.optim.optimizers import SGD, Adam
from glassnet.train.loop import EarlyStopping, TrainState, check_labels, evaluate_loss, fit, stratified_split


def blobs(n_per_class=40, n_classes=3, dim=4, seed=0, spread=0.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(n_classes, dim))
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centers])
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X.astype(np.float32), y


def test_fit_learns_separable_blobs_and_records_history():
    X, y = blobs()
    model = gn.mlp([4, 16, 3], "tanh", rng=0)
    history = fit(model, X, y, optimizer=SGD(lr=0.1, momentum=0.9), epochs=15, batch_size=16, rng=0)
    assert len(history) == 15
    assert history["train_loss"][-1] < 0.1 < history["train_loss"][0]
    assert np.mean(model.predict(X) == y) == 1.0
    assert all(math.isnan(v) for v in history["val_loss"])
    assert history.records[0].steps == math.ceil(120 / 16)


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_online_minibatch_and_full_batch(batch_size):
    X, y = blobs(n_per_class=10)
    model = gn.mlp([4, 8, 3], "relu", rng=1)
    history = fit(model, X, y, optimizer=SGD(lr=0.05, momentum=0.5), epochs=5, batch_size=batch_size, rng=0)
    n_steps = {1: 30, 7: 5, None: 1}[batch_size]
    assert history.records[0].steps == n_steps
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_same_seed_gives_bit_identical_weights_different_seed_does_not():
    X, y = blobs()

    def train(seed):
        model = gn.mlp([4, 8, 3], "tanh", dropout=0.2, rng=seed)
        fit(model, X, y, optimizer=Adam(lr=0.01), epochs=3, batch_size=8, validation_split=0.2, rng=seed)
        return model.params()

    a, b, c = train(5), train(5), train(6)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[n], c[n]) for n in a)


def test_validation_split_is_stratified_and_disjoint():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, held = stratified_split(y, 0.25, np.random.default_rng(0))
    assert np.intersect1d(train, held).size == 0 and train.size + held.size == y.size
    # quotas 25 * n_c / 100 = 2.5, 5, 7.5, 10: floors add to 24, the one left goes to the
    # largest remainder (a tie between classes 0 and 2, broken by class order)
    np.testing.assert_array_equal(np.bincount(y[held]), [3, 5, 7, 10])


def test_a_validation_split_trains_on_the_other_rows_without_copying_them():
    """fit(validation_split=) trains on exactly the rows it does not hold out, the same model as training on
    their copy in the same order, and never copies them: the training rows' bytes are not allocated."""
    import tracemalloc

    rng = np.random.default_rng(3)
    X = rng.standard_normal((20_000, 50)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    split = gn.mlp([50, 16, 3], "relu", rng=0)
    state = TrainState(rng=np.random.default_rng(5))
    tracemalloc.start()
    try:
        fit(split, X, y, optimizer=SGD(lr=0.05, momentum=0.9), epochs=2, batch_size=64, validation_split=0.1,
            state=state)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # held out: 0.1 of X (400 kB); a copy of the training rows would be 3.6 MB more
    assert peak < 0.3 * X.nbytes, f"fit allocated {peak / X.nbytes:.2f} x the data"

    keep = np.ones(len(X), dtype=bool)
    keep[state.val_index] = False
    copied = gn.mlp([50, 16, 3], "relu", rng=0)
    replay = np.random.default_rng(5)  # the split run's generator, replayed: the same split, the same shuffles
    stratified_split(y, 0.1, replay, every_class=True)
    fit(copied, X[keep], y[keep], optimizer=SGD(lr=0.05, momentum=0.9), epochs=2, batch_size=64, rng=replay)
    for a, b in zip(split.params().values(), copied.params().values()):
        np.testing.assert_array_equal(a, b)


def test_validation_metrics_are_reported():
    X, y = blobs()
    model = gn.mlp([4, 8, 3], "tanh", rng=0)
    state = TrainState(rng=np.random.default_rng(0))
    history = fit(model, X, y, optimizer=SGD(lr=0.1, momentum=0.9), epochs=4, batch_size=16, validation_split=0.25,
                  state=state)
    rec = history.records[-1]
    held = state.val_index
    assert held.size == round(0.25 * y.size)
    # the reported figures are the model's loss and accuracy on exactly the held-out samples
    loss, acc = evaluate_loss(model, gn.SoftmaxCrossEntropy(), X[held], y[held])
    assert rec.val_accuracy == acc and rec.val_loss == pytest.approx(loss, rel=1e-6)
    assert rec.val_loss < history.records[0].val_loss


def test_early_stopping_restores_the_best_weights():
    X, y = blobs(spread=3.0, n_per_class=20)  # overlapping classes: a big model overfits
    model = gn.mlp([4, 64, 3], "relu", rng=0)
    snapshots = {}

    class Snap:
        def on_epoch_end(self, record, state):
            snapshots[record.epoch] = {k: v.copy() for k, v in model.params().items()}

    history = fit(
        model, X, y, optimizer=SGD(lr=0.5, momentum=0.9), epochs=200, batch_size=4, validation_split=0.3,
        early_stopping=EarlyStopping(patience=3), rng=0, callbacks=[Snap()],
    )
    assert history.stopped_early and len(history) < 200
    best = int(np.argmin(history["val_loss"])) + 1
    assert history.best_epoch == best
    for name, value in model.params().items():
        np.testing.assert_array_equal(value, snapshots[best][name])


def test_callback_can_stop_training_and_sees_steps():
    X, y = blobs()
    seen = []

    class StopAfterTwo:
        def on_batch_end(self, step):
            seen.append((step.step, step.batch_size, step.loss))

        def on_epoch_end(self, record, state):
            return record.epoch >= 2

    history = fit(gn.mlp([4, 8, 3], rng=0), X, y, optimizer=SGD(lr=0.1), epochs=10, batch_size=40, rng=0,
                  callbacks=[StopAfterTwo()])
    assert len(history) == 2
    assert [s[0] for s in seen] == list(range(1, 7)) and all(s[1] == 40 for s in seen)


def test_resuming_from_a_state_matches_an_uninterrupted_run():
    X, y = blobs()

    def make():
        return gn.mlp([4, 8, 3], "tanh", dropout=0.1, rng=3)

    full = make()
    fit(full, X, y, optimizer=SGD(lr=0.1, momentum=0.9), epochs=4, batch_size=16, validation_split=0.2, rng=np.random.default_rng(9))

    part = make()
    rng = np.random.default_rng(9)
    opt = SGD(lr=0.1, momentum=0.9)
    state = TrainState(rng=rng)
    fit(part, X, y, optimizer=opt, epochs=2, batch_size=16, validation_split=0.2, rng=rng, state=state)
    fit(part, X, y, optimizer=opt, epochs=4, batch_size=16, validation_split=0.2, rng=rng, state=state)
    for name, value in full.params().items():
        np.testing.assert_array_equal(value, part.params()[name])
    assert len(state.history) == 4


def test_non_finite_loss_stops_with_step_and_layer():
    X, y = blobs()
    X[:, 0] *= 1e30
    model = gn.mlp([4, 8, 3], "relu", rng=0)
    with pytest.raises(NonFiniteError, match=r"step \d+.*layer"):
        fit(model, X, y, optimizer=SGD(lr=10.0, momentum=0.9), epochs=5, batch_size=8, rng=0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0}, ConfigError, "batch_size"),
        ({"batch_size": 10_000}, ConfigError, "batch_size"),
        ({"epochs": -1}, ConfigError, "epochs"),
        ({"clip_norm": -1.0}, ConfigError, "clip_norm"),
        ({"early_stopping": EarlyStopping()}, ConfigError, "validation"),
    ],
)
def test_bad_training_options_are_refused(kwargs, error, match):
    X, y = blobs(n_per_class=5)
    with pytest.raises(error, match=match):
        fit(gn.mlp([4, 3, 3], rng=0), X, y, optimizer=SGD(lr=0.1), **{"batch_size": 4, **kwargs})


def test_bad_labels_are_refused():
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        check_labels(np.array([0, 1, 3]), 3, 3)
    with pytest.raises(DataError, match="integers"):
        check_labels(np.array([0.5, 1.0]), 3, 2)
    with pytest.raises(DataError, match="2 labels"):
        check_labels(np.array([0, 1]), 3, 3)


def test_one_column_accuracy_follows_the_declared_output_kind_not_the_values():
    """A one-column logit of 0.3 is class 1 (sigmoid(0.3) > 0.5); the loop used to guess "probabilities"
    from values inside [0, 1] and call it class 0."""
    model = gn.mlp([1, 1], rng=0, dtype=np.float64)
    model.set_params({"0.W": np.array([[1.0]]), "0.b": np.array([0.0])})
    X = np.array([[0.3], [0.7], [0.2]])
    y = np.array([1, 1, 1])
    assert evaluate_loss(model, gn.get_loss("binary_cross_entropy_with_logits"), X, y)[1] == 1.0
    from glassnet.train.loop import one_column_threshold

    # MSE regresses the 0/1 label itself: its boundary is 0.5, whatever the values
    assert one_column_threshold(model, gn.get_loss("mse")) == 0.5
    assert one_column_threshold(model, gn.get_loss("binary_cross_entropy_with_logits")) == 0.0


def test_a_callback_written_from_the_docstring_runs():
    """The module docstring said ``on_train_begin(state)``; fit calls it with ``(state, info)``, so a callback
    written from the docstring crashed.  Build one from the signatures the docstrings give."""
    import re

    import glassnet.train.loop as loop

    for doc in (loop.__doc__, loop.Callback.__doc__, loop.fit.__doc__):
        signatures = dict(re.findall(r"``(on_\w+)\(([\w, ]*)\)``", doc))
        assert set(signatures) == {"on_train_begin", "on_batch_end", "on_epoch_end", "on_train_end"}, doc
        calls = []
        namespace: dict = {"calls": calls}
        body = "\n".join(f"    def {name}(self, {args}):\n        calls.append({name!r})"
                         for name, args in signatures.items())
        exec(f"class FromDocs:\n{body}\n", namespace)
        rng = np.random.default_rng(0)
        X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
        fit(gn.mlp([3, 2], rng=0), X, y, optimizer=SGD(lr=0.1), epochs=1, batch_size=10,
            callbacks=[namespace["FromDocs"]()], rng=0)
        assert calls[0] == "on_train_begin" and calls[-1] == "on_train_end" and "on_epoch_end" in calls
