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
