"""A hand-written tanh layer with the classic bug, for ``glassnet gradcheck --module`` to find.

Run:  glassnet gradcheck --module examples/broken_layer.py

``MyTanh.backward`` uses ``1 - z**2`` (the *input* squared) where the
derivative of ``a = tanh(z)`` is ``1 - a**2`` (the *output* squared).  The
checker reports the layer on its own (its input gradient fails) and inside a
small network (the Dense layer above it passes, everything below it fails,
so the first failing layer from the output is this one).  Change ``z`` to
``a`` in ``backprop`` and both checks pass.
"""

from __future__ import annotations

import numpy as np

from glassnet.nn.layers import Dense, Layer
from glassnet.nn.model import Sequential


class MyTanh(Layer):
    """``Y = tanh(X)``, X, Y : (n, width); no parameters."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.n_in = self.n_out = width

    def describe(self) -> str:
        return "MyTanh"

    def forward(self, X, *, training=False, rng=None):
        a = np.tanh(X)

        def backprop(grad_Y, need_input_grad=True):
            z = X
            return grad_Y * (1 - z**2)  # BUG: the derivative of tanh is 1 - a**2

        return a, backprop


rng = np.random.default_rng(0)
layer = MyTanh(6)
model = Sequential([Dense(4, 6), MyTanh(6), Dense(6, 3)], rng=rng, dtype=np.float64)
