"""The same 2-layer ReLU network, built from the neuralab engine.

Part 1 does one forward and backward pass step by step, with the engine's
pieces (MLP, SoftmaxCrossEntropy, L2Penalty), and prints every intermediate
array under the lecture's name: X, z1, hidden1, scores, probs, dscores,
dhidden1, mask1, dz1, dW1, db1, dW2, db2.

Part 2 trains the net with the engine's trainer and the shared training loop
``fit``. ``MLP([2, 100, 3], seed=0)`` draws W1 and then W2 from
``numpy.random.default_rng(0)``, just as example 02 does by hand, so the two
print the same losses.

Run:  .venv/bin/python examples/03_engine_two_layer.py [--iterations N]
"""

import argparse

import numpy as np

from neuralab.data import spiral
from neuralab.nn import MLP, L2Penalty, SoftmaxCrossEntropy
from neuralab.train import PrintLogger, fit, make_engine_trainer

parser = argparse.ArgumentParser(description="The 2-layer ReLU net on the spiral, with the engine.")
parser.add_argument("--iterations", type=int, default=10_000,
                    help="full-batch gradient steps (default 10000, as on the slides)")
args = parser.parse_args()
if args.iterations < 1:
    parser.error(f"--iterations must be a positive integer, got {args.iterations}")

X, y = spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0)
reg = 1e-3


def show(name, array):
    """One line per array: its name, shape and first few values."""
    first = np.asarray(array).reshape(-1)[:4]
    values = ", ".join(f"{v:+.3e}" if array.dtype.kind == "f" else str(v) for v in first)
    print(f"  {name:<8} {str(array.shape):<10} [{values}, ...]")


# ---- Part 1: one pass by hand -------------------------------------------------
model = MLP([2, 100, 3], seed=0)  # W = 0.01 * N(0, 1), b = 0
loss_fn = SoftmaxCrossEntropy()  # mean cross-entropy over the batch
penalty = L2Penalty(reg)  # 0.5 * reg * sum of W^2 over W1, W2 (not the biases)
print(model)

model.zero_grad()
scores = model.forward(X)  # z1 = X W1 + b1, hidden1 = max(0, z1), scores = hidden1 W2 + b2
data_loss = float(loss_fn.forward(scores, y))  # -log softmax(scores)_y, averaged
reg_loss = penalty.forward(model.weights())
print(f"loss {data_loss + reg_loss:f} = data loss {data_loss:f} + reg loss {reg_loss:.3e}")

dscores = loss_fn.backward()  # (probs - onehot(y)) / N
model.backward(dscores)  # fills dW2, db2, then dhidden1, dz1 (through the ReLU), dW1, db1
penalty.backward(model.weights())  # dW_i += reg * W_i

print("intermediates of the pass (name, shape, first values):")
for name, array in model.intermediates().items():
    show(name, array)
    if name == "scores":  # the loss sits between the forward and the backward arrays
        show("probs", loss_fn.probs)
        show("dscores", loss_fn.dscores)

# ---- Part 2: training ----------------------------------------------------------
print(f"training for {args.iterations} iterations, step 1.0, reg {reg}:")
trainer = make_engine_trainer([2, 100, 3], seed=0, lr=1.0, reg=reg)
result = fit(trainer, X, y, iterations=args.iterations, log_every=100,
             callbacks=[PrintLogger(1000)], progress=False)
print(f"final loss after {result.steps} iterations: {result.final_loss:f}")
print(f"training accuracy: {result.final_train_accuracy:.2f}")
