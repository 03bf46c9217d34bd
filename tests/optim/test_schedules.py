"""Tests for glassnet.optim.schedules: values at given steps, validation, plateau logic, (de)serialisation."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassnet.errors import ConfigError, FileFormatError
from glassnet.optim.schedules import (
    SCHEDULES,
    CosineWithWarmup,
    ReduceLROnPlateau,
    constant,
    cosine_with_warmup,
    exponential_decay,
    get_schedule,
    schedule_from_config,
    schedule_in_epochs,
    schedule_to_config,
    step_decay,
)

#: constructor arguments for every registered schedule (a new entry must add one here).
EXAMPLES = {
    "constant": {"lr": 0.1},
    "step_decay": {"lr": 0.1, "step_size": 3, "gamma": 0.5},
    "exponential_decay": {"lr": 0.1, "gamma": 0.9, "decay_steps": 10},
    "cosine_with_warmup": {"lr": 0.1, "total_steps": 100, "warmup_steps": 10, "min_lr": 0.001},
    "reduce_on_plateau": {"lr": 0.1, "factor": 0.5, "patience": 2, "threshold": 0.01, "min_lr": 0.01, "mode": "max"},
}


def test_every_registered_schedule_has_an_example():
    assert set(SCHEDULES) == set(EXAMPLES)


def test_constant():
    sched = constant(0.3)
    assert [sched(t) for t in (0, 1, 10**6)] == [0.3, 0.3, 0.3]


def test_step_decay_values():
    sched = step_decay(1.0, step_size=3, gamma=0.5)
    assert [sched(t) for t in range(8)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_exponential_decay_values():
    sched = exponential_decay(2.0, gamma=0.5, decay_steps=2)
    assert sched(0) == 2.0
    assert sched(1) == pytest.approx(2.0 * math.sqrt(0.5), rel=1e-15)
    assert sched(2) == 1.0
    assert sched(4) == 0.5
    assert exponential_decay(1.0, gamma=0.9)(3) == pytest.approx(0.729, rel=1e-15)  # decay_steps=1: per step


def test_cosine_with_warmup_values():
    sched = cosine_with_warmup(0.1, total_steps=110, warmup_steps=10, min_lr=0.01)
    # warm-up: lr * (t + 1) / W, linear, reaching lr at the last warm-up step
    assert [sched(t) for t in range(10)] == pytest.approx([0.01 * (t + 1) for t in range(10)], rel=1e-14)
    assert sched(9) == pytest.approx(0.1, rel=1e-15)
    assert sched(10) == pytest.approx(0.1, rel=1e-15)  # cosine starts at lr
    assert sched(60) == pytest.approx(0.055, rel=1e-14)  # half way: (lr + min_lr) / 2
    assert sched(35) == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-14)
    assert sched(110) == 0.01 and sched(5000) == 0.01  # ends at min_lr and stays there


def test_cosine_without_warmup_starts_at_lr_and_ends_at_zero():
    sched = cosine_with_warmup(0.2, total_steps=4)
    assert [sched(t) for t in range(5)] == pytest.approx([0.2, 0.2 * (1 + math.sqrt(0.5)) / 2, 0.1, 0.2 * (1 - math.sqrt(0.5)) / 2, 0.0], abs=1e-16)


@settings(max_examples=50, deadline=None)
@given(
    lr=st.floats(1e-6, 10.0),
    min_frac=st.floats(0.0, 1.0),
    total=st.integers(1, 500),
    warm_frac=st.floats(0.0, 0.99),
)
def test_cosine_rises_then_falls_and_stays_in_range(lr, min_frac, total, warm_frac):
    warmup = int(warm_frac * total)
    sched = cosine_with_warmup(lr, total_steps=total, warmup_steps=warmup, min_lr=lr * min_frac)
    values = [sched(t) for t in range(total + 2)]
    assert all(0.0 < v <= lr * (1 + 1e-12) for v in values[:warmup])
    assert all(lr * min_frac * (1 - 1e-12) <= v <= lr * (1 + 1e-12) for v in values[warmup:])
    assert all(a < b for a, b in zip(values[:warmup], values[1:warmup]))
    assert all(b <= a * (1 + 1e-12) for a, b in zip(values[warmup:], values[warmup + 1 :]))


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (constant, {"lr": 0.0}, "lr must be a finite number > 0, got 0.0"),
        (step_decay, {"lr": 0.1, "step_size": 0}, "step_size must be an integer >= 1, got 0"),
        (step_decay, {"lr": 0.1, "step_size": 2.5}, "step_size must be an integer >= 1, got 2.5"),
        (step_decay, {"lr": 0.1, "step_size": 2, "gamma": 1.5}, r"gamma must be a finite number in \(0, 1\]"),
        (exponential_decay, {"lr": 0.1, "gamma": 0.0}, r"gamma must be a finite number in \(0, 1\]"),
        (cosine_with_warmup, {"lr": 0.1, "total_steps": 10, "warmup_steps": 10}, "warmup_steps must be smaller"),
        (cosine_with_warmup, {"lr": 0.1, "total_steps": 10, "min_lr": 0.2}, r"min_lr must be a finite number in \[0, 0.1\]"),
        (cosine_with_warmup, {"lr": float("nan"), "total_steps": 10}, "lr must be a finite number > 0"),
        (ReduceLROnPlateau, {"lr": 0.1, "factor": 1.0}, r"factor must be a finite number in \(0, 1\)"),
        (ReduceLROnPlateau, {"lr": 0.1, "patience": -1}, "patience must be an integer >= 0"),
        (ReduceLROnPlateau, {"lr": 0.1, "mode": "lowest"}, "mode must be 'min' or 'max'"),
        (ReduceLROnPlateau, {"lr": 0.1, "threshold": -0.1}, "threshold must be a finite number >= 0"),
    ],
)
def test_invalid_arguments_raise_config_error(factory, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        factory(**kwargs)


# ---------------------------------------------------------------------------- ReduceLROnPlateau


def test_plateau_reduces_after_patience_and_respects_min_lr():
    sched = ReduceLROnPlateau(1.0, factor=0.5, patience=2, threshold=1e-4, min_lr=0.2)
    assert sched(0) == 1.0
    assert sched.report(1.0) is False  # first metric: the best so far
    assert [sched.report(1.0), sched.report(0.99995)] == [False, False]  # 2 bad epochs (within threshold) = patience
    assert sched.report(1.0) is True  # the 3rd bad epoch exceeds patience
    assert sched(123) == 0.5 and sched.num_bad_epochs == 0
    assert sched.report(0.9) is False and sched.best == 0.9  # improvement resets the count
    reductions = [sched.report(0.95) for _ in range(9)]
    assert reductions == [False, False, True, False, False, True, False, False, False]
    assert sched(0) == 0.2  # 0.5 -> 0.25 -> max(0.125, 0.2); then no further cut: already at min_lr


def test_plateau_nan_counts_as_no_improvement():
    sched = ReduceLROnPlateau(1.0, factor=0.1, patience=0)
    assert sched.report(float("nan")) is True
    assert sched.best is None and sched(0) == pytest.approx(0.1)


def test_plateau_max_mode_and_negative_metrics():
    sched = ReduceLROnPlateau(1.0, factor=0.5, patience=0, threshold=0.1, mode="max")
    sched.report(0.5)
    assert sched.report(0.54) is True  # needs > 0.5 + 0.1 * 0.5
    assert sched.report(0.56) is False and sched.best == 0.56
    low = ReduceLROnPlateau(1.0, factor=0.5, patience=0, threshold=0.1)
    low.report(-10.0)
    assert low.report(-10.5) is True  # within 10% of |best|: no improvement (not "better" by a relative rule gone wrong)
    assert low.report(-11.5) is False and low.best == -11.5


def test_plateau_state_dict_round_trip_reproduces_decisions():
    metrics = [1.0, 0.9, 0.91, 0.92, 0.9, 0.95, 0.7, 0.71, 0.72, 0.73, 0.74]
    original = ReduceLROnPlateau(0.1, factor=0.5, patience=1)
    for m in metrics[:4]:
        original.report(m)
    saved = json.loads(json.dumps(original.state_dict()))
    restored = schedule_from_config(json.loads(json.dumps(schedule_to_config(original))))
    restored.load_state_dict(saved)
    assert restored.state_dict() == original.state_dict()
    rest = metrics[4:]
    assert [original.report(m) for m in rest] == [restored.report(m) for m in rest]
    assert original(0) == restored(0) and original.state_dict() == restored.state_dict()
    assert original(0) < 0.1  # the sequence did cut the rate


def test_plateau_fresh_state_dict_is_json_safe():
    assert json.dumps(ReduceLROnPlateau(0.1).state_dict()) == '{"lr": 0.1, "best": null, "num_bad_epochs": 0}'


@pytest.mark.parametrize(
    "state",
    [
        {"lr": 0.1, "best": None},
        {"lr": -0.1, "best": None, "num_bad_epochs": 0},
        {"lr": 0.1, "best": "low", "num_bad_epochs": 0},
        {"lr": 0.1, "best": 1.0, "num_bad_epochs": 1.5},
        [0.1, None, 0],
    ],
)
def test_plateau_load_state_dict_rejects_malformed_state(state):
    with pytest.raises(FileFormatError):
        ReduceLROnPlateau(0.1).load_state_dict(state)


# ---------------------------------------------------------------------------- registry and configs


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_config_round_trip(name):
    sched = get_schedule(name, **EXAMPLES[name])
    config = json.loads(json.dumps(schedule_to_config(sched)))
    assert config["name"] == name
    clone = schedule_from_config(config)
    assert type(clone) is type(sched) and clone.config() == sched.config()
    assert [clone(t) for t in (0, 7, 50, 200)] == [sched(t) for t in (0, 7, 50, 200)]


def test_get_schedule_errors():
    with pytest.raises(ConfigError, match="unknown schedule 'cosine'; known schedules: constant, cosine_with_warmup"):
        get_schedule("cosine")
    with pytest.raises(ConfigError, match="bad arguments for schedule 'step_decay'"):
        get_schedule("step_decay", lr=0.1)
    with pytest.raises(ConfigError, match="cannot be rebuilt"):
        schedule_from_config(schedule_to_config(lambda step: 0.1))


def test_schedule_in_epochs_scales_only_time_arguments():
    sched = schedule_in_epochs("cosine_with_warmup", 50, lr=0.1, total_steps=10, warmup_steps=0.5, min_lr=0.01)
    assert isinstance(sched, CosineWithWarmup)
    assert sched.config() == {"lr": 0.1, "total_steps": 500, "warmup_steps": 25, "min_lr": 0.01}
    assert schedule_in_epochs("step_decay", 469, lr=0.1, step_size=10).step_size == 4690
    assert schedule_in_epochs("exponential_decay", 100, lr=0.1, gamma=0.5, decay_steps=1)(100) == pytest.approx(0.05)
    assert schedule_in_epochs("reduce_on_plateau", 100, lr=0.1, patience=3).patience == 3  # counts epochs already
    with pytest.raises(ConfigError, match="steps_per_epoch must be an integer >= 1"):
        schedule_in_epochs("constant", 0, lr=0.1)
