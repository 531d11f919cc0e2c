"""The slides' two plain NumPy loops on the spiral, back to back: linear softmax, then the 2-layer net.

The reference that ``benchmarks/end_to_end.py`` times a whole ``neuralab demo``
process against. ``neuralab demo`` trains the lecture's two models on the seeded
spiral (N = 100 points per class, K = 3, noise 0.2, seed 0, no standardisation),
full batch, step 1.0, reg 1e-3 (the penalty 0.5 * reg * sum W^2, gradient reg * W),
weights from 0.01 * N(0, 1) and zero biases, float64: the linear softmax classifier
for 200 iterations, printing the loss every 10, and the 2-layer ReLU net with 100
hidden units for 10,000 iterations, printing the loss every 1,000. This script runs
the slides' loops with those settings, with nothing of neuralab: the spiral is drawn
here with the same formula and the same ``numpy.random.default_rng(seed)`` draws as
neuralab's, the loops are the slides' (examples/01 and 02 of this repository), and
it prints each model's final loss and training accuracy (the lecture's figures: about
0.79 / 49 % and 0.245 / 98 %) in lines ``linear: loss L, training accuracy A`` and
``mlp: ...`` that end_to_end.py reads.

Run:  .venv/bin/python benchmarks/plain_numpy_spiral.py [--linear-iterations 200]
      [--mlp-iterations 10000]
"""

from __future__ import annotations

import argparse

import numpy as np

STEP_SIZE = 1.0
REG = 1e-3


def spiral(N=100, K=3, noise=0.2, seed=0):
    """For class j: radius linspace(0, 1, N), angle linspace(4j, 4(j+1), N) + noise N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((N * K, 2))
    y = np.zeros(N * K, dtype=np.int64)
    for j in range(K):
        ix = range(N * j, N * (j + 1))
        r = np.linspace(0.0, 1, N)
        t = np.linspace(j * 4, (j + 1) * 4, N) + rng.standard_normal(N) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return X, y


def softmax_loss(scores, y, reg_loss):
    """Probabilities, and the mean cross-entropy plus the penalty (the slides' plain exp)."""
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    return probs, np.sum(-np.log(probs[range(len(y)), y])) / len(y) + reg_loss


def linear_loop(X, y, K, iterations, rng):
    """The slides' linear softmax classifier; returns the final loss and training accuracy."""
    W = 0.01 * rng.standard_normal((X.shape[1], K))
    b = np.zeros((1, K))
    for i in range(iterations):
        scores = np.dot(X, W) + b
        probs, loss = softmax_loss(scores, y, 0.5 * REG * np.sum(W * W))
        if i % 10 == 0:
            print(f"iteration {i}: loss {loss:f}")
        dscores = probs
        dscores[range(len(y)), y] -= 1
        dscores /= len(y)
        dW = np.dot(X.T, dscores) + REG * W
        db = np.sum(dscores, axis=0, keepdims=True)
        W += -STEP_SIZE * dW
        b += -STEP_SIZE * db
    scores = np.dot(X, W) + b
    _, loss = softmax_loss(scores, y, 0.5 * REG * np.sum(W * W))
    return loss, np.mean(np.argmax(scores, axis=1) == y)


def mlp_loop(X, y, K, iterations, rng, h=100):
    """The slides' 2-layer ReLU net; returns the final loss and training accuracy."""
    W = 0.01 * rng.standard_normal((X.shape[1], h))
    b = np.zeros((1, h))
    W2 = 0.01 * rng.standard_normal((h, K))
    b2 = np.zeros((1, K))
    for i in range(iterations):
        hidden_layer = np.maximum(0, np.dot(X, W) + b)
        scores = np.dot(hidden_layer, W2) + b2
        probs, loss = softmax_loss(scores, y, 0.5 * REG * (np.sum(W * W) + np.sum(W2 * W2)))
        if i % 1000 == 0:
            print(f"iteration {i}: loss {loss:f}")
        dscores = probs
        dscores[range(len(y)), y] -= 1
        dscores /= len(y)
        dW2 = np.dot(hidden_layer.T, dscores)
        db2 = np.sum(dscores, axis=0, keepdims=True)
        dhidden = np.dot(dscores, W2.T)
        dhidden[hidden_layer <= 0] = 0
        dW = np.dot(X.T, dhidden)
        db = np.sum(dhidden, axis=0, keepdims=True)
        dW2 += REG * W2
        dW += REG * W
        W += -STEP_SIZE * dW
        b += -STEP_SIZE * db
        W2 += -STEP_SIZE * dW2
        b2 += -STEP_SIZE * db2
    scores = np.dot(np.maximum(0, np.dot(X, W) + b), W2) + b2
    _, loss = softmax_loss(scores, y, 0.5 * REG * (np.sum(W * W) + np.sum(W2 * W2)))
    return loss, np.mean(np.argmax(scores, axis=1) == y)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linear-iterations", type=int, default=200)
    parser.add_argument("--mlp-iterations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X, y = spiral(seed=args.seed)
    for name, loop, iterations in (("linear", linear_loop, args.linear_iterations),
                                   ("mlp", mlp_loop, args.mlp_iterations)):
        if iterations > 0:
            loss, accuracy = loop(X, y, 3, iterations, np.random.default_rng(args.seed))
            print(f"{name}: loss {loss:.4f}, training accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
