"""The lecture's linear softmax classifier, written by hand in plain NumPy.

A single layer scores = X W + b, softmax turns the scores into class
probabilities, and full-batch gradient descent minimises the mean cross-entropy
plus the L2 penalty 0.5 * reg * sum(W^2) (whose gradient is reg * W). The
spiral is not linearly separable, so the loss stalls near 0.75 and the training
accuracy near 50 %: this is the lecture's motivation for a hidden layer.

Run:  .venv/bin/python examples/01_linear_softmax_by_hand.py
"""

import numpy as np

from neuralab.data import spiral

# The lecture's data: 3 spiral arms of 100 points each in 2-D.
X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0)
num_examples, D = X.shape  # 300 points, 2 features
K = 3  # classes

# Initialise the parameters: small random weights, zero biases.
# Every random draw comes from a seeded Generator, never the global RNG.
rng = np.random.default_rng(0)
W = 0.01 * rng.standard_normal((D, K))
b = np.zeros((1, K))

# Hyperparameters from the slides.
step_size = 1.0
reg = 1e-3  # regularisation strength

for i in range(200):
    # Forward: class scores, shape (N, K).
    scores = np.dot(X, W) + b

    # Class probabilities (softmax). The scores stay small here, so the plain
    # exp of the slides cannot overflow; neuralab subtracts the row max first.
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)

    # Loss: mean cross-entropy plus the L2 penalty 0.5 * reg * sum(W^2).
    # np.log is the natural logarithm, as cross-entropy needs: a correct class with
    # probability 0.9 costs -ln 0.9 = 0.1054. The slide's "-log 0.9 = 0.045" is the
    # base-10 logarithm (-log10 0.9 = 0.0458); compare neuralab's numbers with ln.
    correct_logprobs = -np.log(probs[range(num_examples), y])
    data_loss = np.sum(correct_logprobs) / num_examples
    reg_loss = 0.5 * reg * np.sum(W * W)
    loss = data_loss + reg_loss
    if i % 10 == 0:
        print(f"iteration {i}: loss {loss:f}")

    # Backward: dL/dscores = (probs - onehot(y)) / N.
    dscores = probs
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples

    # Backpropagate into W and b; the penalty adds reg * W.
    dW = np.dot(X.T, dscores)
    db = np.sum(dscores, axis=0, keepdims=True)
    dW += reg * W

    # Parameter update: plain gradient descent.
    W += -step_size * dW
    b += -step_size * db

# Training accuracy: the predicted class is the largest score.
scores = np.dot(X, W) + b
predicted_class = np.argmax(scores, axis=1)
print(f"training accuracy: {np.mean(predicted_class == y):.2f}")
