"""The classic batch-normalisation mistake, for ``glassnet gradcheck --module examples/broken_batchnorm.py``.

``MyBatchNorm`` computes the right forward (glassnet's BatchNorm) but its
training-mode backward is the one most first derivations produce::

    dx = gamma * dy / sigma

It treats the batch mean ``mu`` and the standard deviation ``sigma`` as
constants, which they are only in eval mode.  In training mode every ``x_k``
moves ``mu`` and ``sigma`` and so every output of its column; the right
formula is ``dx = (gamma / (n sigma)) (n dy - sum(dy) - x_hat sum(dy x_hat))``
(``glassnet explain batchnorm`` derives it).  The checker passes the layer in
eval mode, fails it in training mode, and names the mistake.
"""

import numpy as np

from glassnet.nn.norm import BatchNorm


class MyBatchNorm(BatchNorm):
    def forward(self, X, *, training=False, rng=None):
        Y, backprop = super().forward(X, training=training, rng=rng)
        if not training:
            return Y, backprop
        sigma = np.sqrt(X.var(axis=0) + self.eps)  # (d,)

        def wrong_backprop(grad_Y, need_input_grad=True):
            backprop(grad_Y, need_input_grad=False)  # dgamma and dbeta are right
            return grad_Y * self.params["gamma"] / sigma if need_input_grad else None

        return Y, wrong_backprop


layer = MyBatchNorm(6)
layer.initialize(np.random.default_rng(0), np.float64)
