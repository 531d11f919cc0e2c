"""Fashion-MNIST 784-100-10 in plain NumPy: the lecture's forward and backward by hand, float32.

The reference that ``benchmarks/end_to_end.py`` times a whole ``neuralab train
--dataset fashion_mnist --hidden 100 --epochs 15 --batch-size 128 --optimizer sgd
--lr 0.1 --dtype float32 --seed 0 --quiet`` process against. It does what that
command does to the data and the net, with nothing of neuralab:

- reads the four gzip IDX files of Fashion-MNIST (default
  ``/usr/share/datasets/fashion-mnist``, Debian's ``dataset-fashion-mnist``) with
  ``gzip`` and ``numpy.frombuffer``;
- scales the pixels to [0, 1] in float32, then standardises each pixel by the
  training split's mean and standard deviation (a constant pixel gets scale 1),
  as neuralab's ``Standardizer`` does by default, applying the same to the test images;
- draws W = 0.01 * N(0, 1) and b = 0 (the lecture's initialisation, neuralab's
  default) and trains 784-100-10 ReLU with mean softmax cross-entropy plus
  0.5 * reg * sum W^2 (reg 1e-3, neuralab's default; its gradient is reg * W), plain
  SGD with step 0.1, minibatches of 128 gathered from a fresh permutation each epoch,
  all in float32;
- prints the mean training loss of each epoch and the test accuracy (a line
  ``test accuracy 0.8xxx`` that end_to_end.py reads).

Run:  .venv/bin/python benchmarks/plain_numpy_fashion.py [--epochs 15]
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """A gzip IDX file of unsigned bytes: 4-byte magic, big-endian int32 sizes, the data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_standardised(data_dir: Path = DATA_DIR):
    """Training and test images as float32 rows, standardised by the training split's moments."""
    X = read_idx(data_dir / "train-images-idx3-ubyte.gz").reshape(60_000, -1)
    y = read_idx(data_dir / "train-labels-idx1-ubyte.gz").astype(np.int64)
    X_test = read_idx(data_dir / "t10k-images-idx3-ubyte.gz").reshape(10_000, -1)
    y_test = read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    X /= 255
    X_test /= 255
    # the moments in float64 accumulators (float32 sums over 60,000 rows drift)
    mean = X.mean(axis=0, dtype=np.float64)
    X -= mean.astype(np.float32)
    std = np.sqrt((X * X).mean(axis=0, dtype=np.float64))
    scale = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1), std, 1).astype(np.float32)
    X /= scale
    X_test -= mean.astype(np.float32)
    X_test /= scale
    return X, y, X_test, y_test


def train(X, y, *, hidden, epochs, batch_size, lr, reg, seed):
    """The lecture's loop in minibatches; returns W1, b1, W2, b2 (float32)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    k = int(y.max()) + 1
    W1 = (0.01 * rng.standard_normal((d, hidden))).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    W2 = (0.01 * rng.standard_normal((hidden, k))).astype(np.float32)
    b2 = np.zeros(k, np.float32)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            Xb, yb = X[idx], y[idx]
            m = len(yb)
            # forward: a ReLU hidden layer, then the class scores
            hidden_layer = np.maximum(0, Xb @ W1 + b1)
            scores = hidden_layer @ W2 + b2
            # subtract the row max before exp so large scores cannot overflow
            scores -= scores.max(axis=1, keepdims=True)
            exp_scores = np.exp(scores)
            probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)
            loss = (-np.log(probs[np.arange(m), yb]).mean()
                    + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2)))
            total += float(loss) * m
            # backward: dscores = (probs - onehot(y)) / m, then down the layers
            dscores = probs
            dscores[np.arange(m), yb] -= 1
            dscores /= m
            dW2 = hidden_layer.T @ dscores + reg * W2
            db2 = dscores.sum(axis=0)
            dhidden = dscores @ W2.T
            dhidden[hidden_layer <= 0] = 0
            dW1 = Xb.T @ dhidden + reg * W1
            db1 = dhidden.sum(axis=0)
            # plain SGD
            W1 -= lr * dW1
            b1 -= lr * db1
            W2 -= lr * dW2
            b2 -= lr * db2
        print(f"epoch {epoch + 1}: mean training loss {total / n:.4f}")
    return W1, b1, W2, b2


def parse_args(argv, description: str) -> argparse.Namespace:
    """The options both plain Fashion-MNIST scripts take (the neuralab command's settings)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--reg", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv, __doc__.splitlines()[0])
    X, y, X_test, y_test = load_standardised(args.data_dir)
    W1, b1, W2, b2 = train(X, y, hidden=args.hidden, epochs=args.epochs,
                           batch_size=args.batch_size, lr=args.lr, reg=args.reg, seed=args.seed)
    scores = np.maximum(0, X_test @ W1 + b1) @ W2 + b2
    print(f"test accuracy {np.mean(scores.argmax(axis=1) == y_test):.4f}")


if __name__ == "__main__":
    main()
