"""GradientNorms: the per-epoch mean gradient norm of every tensor, by hand, and through the history's JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from glassnet import SGD, History, fit, mlp
from glassnet.train.callbacks.grad_norms import GradientNorms
from glassnet.train.loop import EpochRecord


class RecordGrads:
    """Copies every step's gradients (what GradientNorms sees), to recompute its means by hand."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int, dict[str, np.ndarray]]] = []

    def on_batch_end(self, step) -> None:
        self.steps.append((step.step, step.epoch, {k: v.copy() for k, v in step.grads.items()}))


def toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 5))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    return X, y


@pytest.mark.parametrize("every", [1, 3, 7])
def test_means_are_the_sampled_steps_norms_by_hand(every):
    X, y = toy()
    model = mlp([5, 6, 3], "tanh", rng=np.random.default_rng(1), dtype=np.float64)
    seen = RecordGrads()
    history = fit(model, X, y, optimizer=SGD(lr=0.1), epochs=3, batch_size=8, l2=0.1,
                  rng=np.random.default_rng(2), callbacks=[seen, GradientNorms(every=every)])
    assert len(history) == 3
    for record in history.records:
        sampled = [g for step, epoch, g in seen.steps if epoch == record.epoch - 1 and (step % every == 0 or step == 1)]
        assert sampled, "every epoch of 8 steps has a sampled step"
        assert set(record.grad_norms) == {"0.W", "0.b", "2.W", "2.b"}
        for name, value in record.grad_norms.items():
            expected = np.mean([np.sqrt(np.sum(g[name] ** 2)) for g in sampled])
            assert value == pytest.approx(expected, rel=1e-12)
            assert value > 0


def test_norms_include_the_l2_term():
    X, y = toy()
    norms = []
    for l2 in (0.0, 50.0):
        model = mlp([5, 6, 3], "tanh", rng=np.random.default_rng(1), dtype=np.float64)
        history = fit(model, X, y, optimizer=SGD(lr=0.1), epochs=1, batch_size=60, l2=l2,
                      rng=np.random.default_rng(2), callbacks=[GradientNorms(every=1)])
        norms.append(history.records[0].grad_norms)
    # one full-batch step, sampled before the update: the only difference is (lambda/m) W in dJ/dW
    assert norms[1]["0.W"] > norms[0]["0.W"] and norms[1]["2.W"] > norms[0]["2.W"]
    assert norms[1]["0.b"] == pytest.approx(norms[0]["0.b"], rel=1e-12)


def test_without_the_callback_records_hold_no_norms():
    X, y = toy()
    model = mlp([5, 4, 3], rng=np.random.default_rng(0))
    history = fit(model, X, y, optimizer=SGD(lr=0.1), epochs=2, batch_size=16, rng=np.random.default_rng(0))
    assert all(r.grad_norms == {} for r in history.records)


def test_history_json_round_trip_keeps_norms_and_writes_nan_as_null():
    history = History([EpochRecord(1, 0.5, 0.9, grad_norms={"0.W": 0.25, "0.b": math.nan}),
                       EpochRecord(2, 0.4, 0.95)])
    text = json.dumps(history.to_dict(), allow_nan=False)  # strict JSON: no NaN tokens
    assert json.loads(text)["records"][0]["grad_norms"] == {"0.W": 0.25, "0.b": None}
    back = History.from_dict(json.loads(text))
    assert back.records[0].grad_norms["0.W"] == 0.25 and math.isnan(back.records[0].grad_norms["0.b"])
    assert back.records[1].grad_norms == {}
    assert math.isnan(back.records[0].val_loss)


def test_history_without_the_key_loads():  # files written before grad_norms existed
    data = History([EpochRecord(1, 0.5, 0.9)]).to_dict()
    del data["records"][0]["grad_norms"]
    assert History.from_dict(data).records[0].grad_norms == {}


@pytest.mark.parametrize("every", [0, -1, 1.5, True])
def test_every_must_be_a_positive_integer(every):
    with pytest.raises(ValueError, match="every must be a positive integer"):
        GradientNorms(every=every)
