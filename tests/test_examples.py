"""The documented example of a hand-written layer and loss passes the checker (docs/custom-layers.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from glassnet.gradcheck import check_layer, check_loss

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_layer.py"


def load_example():
    spec = importlib.util.spec_from_file_location("custom_layer", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_layer_and_loss_pass_and_a_broken_copy_fails():
    ex = load_example()
    assert check_layer(ex.layer, (6, 8)).max_rel_error < 1e-8
    rng = np.random.default_rng(0)
    assert check_loss(ex.loss, rng.normal(size=(6, 4)), rng.integers(0, 4, 6)).passed

    class Broken(ex.ScaleShift):  # dL/dgamma forgets the input factor
        def forward(self, X, *, training=False, rng=None):
            Y, backprop = super().forward(X)

            def wrong(grad_Y, need_input_grad=True):
                out = backprop(grad_Y, need_input_grad)
                self.grads["gamma"][...] = np.sum(grad_Y, axis=0)
                return out

            return Y, wrong

    report = check_layer(Broken(8), (6, 8))
    assert [t.name for t in report.failing()] == ["gamma"]
