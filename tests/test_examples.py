"""The documented examples: a hand-written layer and loss that pass the checker (docs/custom-layers.md), and the
broken layer of README.md's walk-through, whose command-line check must say what README.md shows."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from glassnet.check.gradcheck import check_layer, check_loss
from paths import REPO

EXAMPLES = REPO / "examples"


def load_example_file(name: str):
    spec = importlib.util.spec_from_file_location(Path(name).stem, EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_example():
    return load_example_file("custom_layer.py")


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


def test_broken_layer_walkthrough_in_readme_is_what_the_command_prints(capsys):
    """README.md pastes this command's output; the lines that carry the diagnosis must still be printed."""
    from glassnet.cli.main import main

    status = main(["gradcheck", "--module", str(EXAMPLES / "broken_layer.py")])
    out = capsys.readouterr().out
    assert status == 1
    readme = (EXAMPLES.parent / "README.md").read_text()
    for line in out.splitlines():
        if line.startswith(("input ", "0.W ", "0.b ", "2.W ", "2.b ", "FAILED", "the backward of", "layer 1",
                            "  evidence:", "  fix:")):
            assert line in readme, f"README.md's walk-through no longer matches: {line!r}"
    assert "layer 1 (MyTanh) has a wrong backward" in out
    assert "the backward of MyTanh is wrong entry by entry (input)" in out


def test_fixed_broken_layer_passes():
    broken = load_example_file("broken_layer.py")

    class Fixed(broken.MyTanh):
        def forward(self, X, *, training=False, rng=None):
            a = np.tanh(X)
            return a, lambda grad_Y, need_input_grad=True: grad_Y * (1 - a**2)

    assert check_layer(Fixed(6), (16, 6)).max_rel_error < 1e-8
