"""A learner's network, written the way Andrew Ng's course writes it, with three classic mistakes.

784-25-10, tanh hidden layer, softmax output, bias columns and one unrolled parameter vector::

    glassnet gradcheck --function examples/ng_network.py:nnCostFunction --l2-arg lambda_
    glassnet gradcheck --function examples/ng_network.py:nnCostFunction_fixed --l2-arg lambda_

The mistakes, marked MISTAKE below (docs/own-code.md shows what glassnet prints for each):
1. J has no 1/m: ``J = -(sum(Y .* log(h)) ...)``;
2. the L2 term is subtracted: ``... + lambda * p / (2m))`` inside the minus;
3. ``sigma2`` uses sigmoid's derivative, although the hidden layer is tanh.

The command reads ``params`` (the unrolled vector), ``args`` and ``kwargs`` from this file.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_gradient(z):
    g = sigmoid(z)
    return g * (1 - g)


def tanh_gradient(z):
    return 1 - np.tanh(z) ** 2


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def unroll(Theta1, Theta2):
    return np.concatenate([Theta1.ravel(), Theta2.ravel()])


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    Theta1 = nn_params[:hidden_layer_size * (input_layer_size + 1)].reshape(hidden_layer_size, input_layer_size + 1)
    Theta2 = nn_params[hidden_layer_size * (input_layer_size + 1):].reshape(num_labels, hidden_layer_size + 1)
    m = X.shape[0]
    Y = np.eye(num_labels)[y - 1]  # labels 1..num_labels, as in Octave

    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ Theta1.T
    a2 = np.hstack([np.ones((m, 1)), np.tanh(z2)])
    z3 = a2 @ Theta2.T
    h = softmax(z3)

    p = np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2)
    J = -(np.sum(Y * np.log(h)) + lambda_ * p / (2 * m))  # MISTAKE 1 (no 1/m) and MISTAKE 2 (L2 subtracted)

    sigma3 = h - Y
    sigma2 = (sigma3 @ Theta2[:, 1:]) * sigmoid_gradient(z2)  # MISTAKE 3: the hidden layer is tanh
    Theta1_grad = sigma2.T @ a1 / m
    Theta2_grad = sigma3.T @ a2 / m
    Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]
    return J, unroll(Theta1_grad, Theta2_grad)


def nnCostFunction_fixed(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_):
    Theta1 = nn_params[:hidden_layer_size * (input_layer_size + 1)].reshape(hidden_layer_size, input_layer_size + 1)
    Theta2 = nn_params[hidden_layer_size * (input_layer_size + 1):].reshape(num_labels, hidden_layer_size + 1)
    m = X.shape[0]
    Y = np.eye(num_labels)[y - 1]

    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ Theta1.T
    a2 = np.hstack([np.ones((m, 1)), np.tanh(z2)])
    z3 = a2 @ Theta2.T
    h = softmax(z3)

    p = np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2)
    J = -np.sum(Y * np.log(h)) / m + lambda_ * p / (2 * m)

    sigma3 = h - Y
    sigma2 = (sigma3 @ Theta2[:, 1:]) * tanh_gradient(z2)
    Theta1_grad = sigma2.T @ a1 / m
    Theta2_grad = sigma3.T @ a2 / m
    Theta1_grad[:, 1:] += lambda_ / m * Theta1[:, 1:]
    Theta2_grad[:, 1:] += lambda_ / m * Theta2[:, 1:]
    return J, unroll(Theta1_grad, Theta2_grad)


# what `glassnet gradcheck --function` reads: a small random batch, so the check takes a few seconds
_rng = np.random.default_rng(0)
_X = _rng.random((100, 784))
_y = _rng.integers(1, 11, 100)
_init = lambda rows, cols: _rng.uniform(-0.12, 0.12, (rows, cols))  # noqa: E731
params = unroll(_init(25, 785), _init(10, 26))
args = (784, 25, 10, _X, _y, 1.0)

if __name__ == "__main__":
    import glassnet

    print(glassnet.check_function(nnCostFunction, params, *args, l2_arg="lambda_"))
