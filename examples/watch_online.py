"""A learner's own training loop, watched by glassnet.Watch: online training (one sample a step) on
scikit-learn's 8x8 digits, 64-25-10, sigmoid hidden layer, softmax output.

    python examples/watch_online.py 5.0     # too large a step: the network follows the last label
    python examples/watch_online.py 0.1     # healthy: nothing to report

docs/own-code.md shows both outputs.
"""

import sys

import numpy as np
from sklearn.datasets import load_digits

import glassnet


def main(lr: float) -> None:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(0, 0.1, (64, 25)), np.zeros(25)
    W2, b2 = rng.normal(0, 0.1, (25, 10)), np.zeros(10)

    def forward(Xb):
        a1 = 1 / (1 + np.exp(-np.clip(Xb @ W1 + b1, -500, 500)))
        z = a1 @ W2 + b2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return a1, p / p.sum(axis=1, keepdims=True)

    watch = glassnet.Watch(lambda Xp: forward(Xp)[1], X[:300], y[:300], every=10)
    for i in rng.permutation(len(X)):  # one epoch, one sample a step
        x, label = X[i:i + 1], y[i:i + 1]
        a1, p = forward(x)
        loss = -np.log(max(p[0, label[0]], 1e-300))
        delta2 = p.copy()
        delta2[0, label[0]] -= 1
        delta1 = (delta2 @ W2.T) * a1 * (1 - a1)
        grads = [x.T @ delta1, delta1.sum(0), a1.T @ delta2, delta2.sum(0)]
        for param, grad in zip((W1, b1, W2, b2), grads):
            param -= lr * grad
        watch.step(loss=loss, labels=label, params=[W1, b1, W2, b2], grads=grads)
    accuracy = np.mean(forward(X)[1].argmax(axis=1) == y)
    print(f"lr {lr}: training accuracy {accuracy:.1%}")
    print(watch)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
