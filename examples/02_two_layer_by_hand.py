"""The lecture's 2-layer ReLU network, written by hand in plain NumPy.

One hidden layer of 100 ReLU units turns the linear classifier of example 01
into a network that bends its decision boundary around the spiral arms:

    hidden = max(0, X W + b),  scores = hidden W2 + b2,  probs = softmax(scores)

The backward pass is the chain rule written out: dscores = (probs - onehot(y)) / N,
then into W2 and b2, back through W2 into the hidden layer, through the ReLU
(the gradient is zeroed where the hidden unit was off), and into W and b. After
10,000 full-batch iterations the training accuracy is about 98-99 %.

Run:  .venv/bin/python examples/02_two_layer_by_hand.py [--iterations N]
"""

import argparse

import numpy as np

from neuralab.data import spiral


def train(X, y, W, b, W2, b2, num_iters, step_size=1.0, reg=1e-3, print_every=0):
    """The slides' training loop; updates W, b, W2, b2 in place.

    Returns the loss of the last iteration, computed (as on the slides) from that
    iteration's forward pass, before its update. ``benchmarks/spiral_step.py``
    times this very function as the plain NumPy reference.
    """
    num_examples = X.shape[0]
    loss = None
    for i in range(num_iters):
        # Forward pass: a ReLU hidden layer, then the class scores, (N, K).
        hidden_layer = np.maximum(0, np.dot(X, W) + b)
        scores = np.dot(hidden_layer, W2) + b2

        # Class probabilities (softmax).
        exp_scores = np.exp(scores)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)

        # Loss: mean cross-entropy plus the L2 penalty on both weight matrices.
        correct_logprobs = -np.log(probs[range(num_examples), y])
        data_loss = np.sum(correct_logprobs) / num_examples
        reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)
        loss = data_loss + reg_loss
        if print_every and i % print_every == 0:
            print(f"iteration {i}: loss {loss:f}")

        # Gradient on the scores.
        dscores = probs
        dscores[range(num_examples), y] -= 1
        dscores /= num_examples

        # Backpropagate: first into W2 and b2 ...
        dW2 = np.dot(hidden_layer.T, dscores)
        db2 = np.sum(dscores, axis=0, keepdims=True)
        # ... then into the hidden layer ...
        dhidden = np.dot(dscores, W2.T)
        # ... through the ReLU: no gradient where the unit was off ...
        dhidden[hidden_layer <= 0] = 0
        # ... and finally into W and b.
        dW = np.dot(X.T, dhidden)
        db = np.sum(dhidden, axis=0, keepdims=True)

        # The penalty's gradient.
        dW2 += reg * W2
        dW += reg * W

        # Parameter update.
        W += -step_size * dW
        b += -step_size * db
        W2 += -step_size * dW2
        b2 += -step_size * db2
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description="The 2-layer ReLU net on the spiral, by hand.")
    parser.add_argument("--iterations", type=int, default=10_000,
                        help="full-batch gradient steps (default 10000, as on the slides)")
    args = parser.parse_args()
    if args.iterations < 1:
        parser.error(f"--iterations must be a positive integer, got {args.iterations}")

    X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0)
    num_examples, D = X.shape
    K = 3
    h = 100  # size of the hidden layer

    # Initialise: W = 0.01 * N(0, 1), b = 0, from a seeded Generator.
    rng = np.random.default_rng(0)
    W = 0.01 * rng.standard_normal((D, h))
    b = np.zeros((1, h))
    W2 = 0.01 * rng.standard_normal((h, K))
    b2 = np.zeros((1, K))

    step_size = 1.0
    reg = 1e-3  # L2 strength: the penalty is 0.5 * reg * sum(W^2), its gradient reg * W
    train(X, y, W, b, W2, b2, args.iterations, step_size, reg, print_every=1000)

    # Final loss (after the last update) and training accuracy.
    hidden_layer = np.maximum(0, np.dot(X, W) + b)
    scores = np.dot(hidden_layer, W2) + b2
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = (np.sum(-np.log(probs[range(num_examples), y])) / num_examples
            + 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2))
    print(f"final loss after {args.iterations} iterations: {loss:f}")
    predicted_class = np.argmax(scores, axis=1)
    print(f"training accuracy: {np.mean(predicted_class == y):.2f}")


if __name__ == "__main__":
    main()
