"""Adding an entry to a registry is enough: the command line and the run builder pick it up.

Each test registers a toy entry for the duration of the test (``monkeypatch``
removes it afterwards) and checks that the places that list or build entries
of that kind see it without being edited.
"""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.check.gradcheck import check_layer
from glassnet.cli.main import build_parser, main
from glassnet.core.activations import ACTIVATIONS, ActivationFunction
from glassnet.nn.layers import Activation
from glassnet.nn.losses import LOSSES, SoftmaxCrossEntropy
from glassnet.optim.optimizers import OPTIMIZERS, SGD
from glassnet.train.experiment import TrainConfig, build_loss, build_optimizer

# the registry-wide test bodies, run here on the toy entries
from check import test_registry_gradcheck as registry_wide  # tests/check/test_registry_gradcheck.py


class Softsign(ActivationFunction):
    """``f(z) = z / (1 + |z|)``;  ``f'(z) = 1 / (1 + |z|)^2``."""

    name = "toy_softsign"

    def forward(self, z):
        return z / (1 + np.abs(z))

    def backward(self, z, a, grad_a):
        return grad_a / (1 + np.abs(z)) ** 2


class ToyHeavyBall(SGD):
    name = "toy_heavy_ball"


class ToySmoothable(SoftmaxCrossEntropy):
    name = "toy_smoothable"


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, Softsign.name, Softsign)
    monkeypatch.setitem(OPTIMIZERS, ToyHeavyBall.name, ToyHeavyBall)
    monkeypatch.setitem(LOSSES, ToySmoothable.name, ToySmoothable)


def _train_help() -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["train"].format_help()


def test_new_entries_are_choices_of_the_command_line(toys):
    text = " ".join(_train_help().split())
    for name in (Softsign.name, ToyHeavyBall.name, ToySmoothable.name):
        assert name in text
    assert f"momentum for sgd/nesterov/{ToyHeavyBall.name} " in text


def test_a_new_activation_trains_from_the_command_line_and_passes_the_gradient_check(toys, tmp_path, capsys):
    report = check_layer(Activation(Softsign.name), (4, 5))
    assert report.passed
    assert main(["train", "--activation", Softsign.name, "--hidden", "8", "--epochs", "1",
                 "-o", str(tmp_path / "m.npz")]) == 0
    assert (tmp_path / "m.npz").is_file()


def test_the_run_builder_gives_run_settings_to_entries_that_declare_them(toys):
    optimizer = build_optimizer(TrainConfig(optimizer=ToyHeavyBall.name, momentum=0.7), steps_per_epoch=10)
    assert isinstance(optimizer, ToyHeavyBall) and optimizer.momentum == 0.7
    assert build_loss(TrainConfig(loss=ToySmoothable.name, label_smoothing=0.1)).label_smoothing == 0.1
    adam = build_optimizer(TrainConfig(optimizer="adam", momentum=0.7), steps_per_epoch=10)
    assert "momentum" not in adam.config()


class WrongSoftsign(Softsign):
    """The toy activation with a planted mistake: the derivative written without its square."""

    name = "toy_wrong_softsign"

    def backward(self, z, a, grad_a):
        return grad_a / (1 + np.abs(z))


class MarginLoss(SoftmaxCrossEntropy):
    """A loss with a constructor argument that no registry-wide case knows about."""

    name = "toy_margin"

    def __init__(self, reduction="mean", label_smoothing=0.0, class_weights=None, margin=0.0):
        super().__init__(reduction, label_smoothing, class_weights)
        self.margin = margin

    def config(self):
        return {**super().config(), "margin": self.margin}


def test_the_registry_wide_gradient_checks_cover_new_entries(toys):
    """The registry-wide bodies take a registered name, so they check a new entry unchanged."""
    registry_wide.test_activation_layer_passes_check_layer(Softsign.name)
    registry_wide.test_kinks_are_skipped_and_counted_exactly(Softsign.name)
    registry_wide.test_mlp_with_each_activation_passes_gradcheck(Softsign.name)
    registry_wide.test_mlp_with_each_loss_passes_gradcheck(ToySmoothable.name, "mean", 0.7)
    toy_cases = [c for c in registry_wide._loss_cases() if c.values[0].name == ToySmoothable.name]
    assert len(toy_cases) == len([c for c in registry_wide._loss_cases() if c.values[0].name == "softmax_cross_entropy"])
    for case in toy_cases:
        registry_wide.test_every_loss_passes_check_loss(*case.values)
    registry_wide.test_every_constructor_argument_of_every_loss_is_exercised()


def test_the_registry_wide_checks_reject_a_wrong_new_entry(monkeypatch):
    """The same bodies fail on a registered activation with a wrong derivative, and on a loss with an
    argument that no case exercises: they are checks, not a formality."""
    monkeypatch.setitem(ACTIVATIONS, WrongSoftsign.name, WrongSoftsign)
    with pytest.raises(AssertionError):
        registry_wide.test_activation_layer_passes_check_layer(WrongSoftsign.name)
    with pytest.raises(AssertionError):
        registry_wide.test_mlp_with_each_activation_passes_gradcheck(WrongSoftsign.name)
    monkeypatch.setitem(LOSSES, MarginLoss.name, MarginLoss)
    with pytest.raises(AssertionError, match="toy_margin.*margin"):
        registry_wide.test_every_constructor_argument_of_every_loss_is_exercised()
