"""Fashion-MNIST 784-100-10 in a plain PyTorch script: the lecture's torch loop, float32, CPU.

The PyTorch reference that ``benchmarks/end_to_end.py`` times a whole ``neuralab
train --dataset fashion_mnist --hidden 100 --epochs 15 --batch-size 128 --optimizer
sgd --lr 0.1 --dtype float32 --seed 0 --quiet`` process against. The data is read
and standardised exactly as ``plain_numpy_fashion.py`` does (its ``load_standardised``:
gzip + NumPy, the pixels in [0, 1] float32, then each pixel standardised by the
training split's mean and standard deviation, as neuralab's ``Standardizer``); no
neuralab is imported. Then, as the lecture writes it:

- ``nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))``, the
  weights drawn from 0.01 * N(0, 1) and the biases zero (neuralab's default
  initialisation), ``torch.manual_seed(seed)``;
- ``torch.optim.SGD`` with step 0.1 and the L2 penalty 0.5 * reg * sum W^2 on the
  weights only (reg 1e-3, neuralab's default) as SGD's ``weight_decay`` of the
  weight matrices' parameter group (the same gradient, reg * W);
- each epoch ``torch.randperm``, batches of 128 gathered from the tensors made once,
  ``F.cross_entropy``, ``backward``, ``step``;
- prints the mean training cross-entropy of each epoch and the test accuracy (a line
  ``test accuracy 0.8xxx`` that end_to_end.py reads).

torch uses its default number of threads (``OMP_NUM_THREADS`` changes it).

Run:  .venv/bin/python benchmarks/plain_torch_fashion.py [--epochs 15]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_numpy_fashion import load_standardised, parse_args


def main(argv=None) -> None:
    args = parse_args(argv, __doc__.splitlines()[0])

    X, y, X_test, y_test = load_standardised(args.data_dir)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    torch.manual_seed(args.seed)
    net = nn.Sequential(nn.Linear(X.shape[1], args.hidden), nn.ReLU(),
                        nn.Linear(args.hidden, int(y.max()) + 1))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.normal_(0.0, 0.01)
            layer.bias.zero_()
    optimizer = torch.optim.SGD([
        {"params": [net[0].weight, net[2].weight], "weight_decay": args.reg},
        {"params": [net[0].bias, net[2].bias], "weight_decay": 0.0},
    ], lr=args.lr)

    n = len(yt)
    for epoch in range(args.epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, args.batch_size):
            idx = perm[i:i + args.batch_size]
            xb, yb = Xt[idx], yt[idx]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}: mean training cross-entropy {total / n:.4f}")

    with torch.no_grad():
        predicted = net(torch.from_numpy(X_test)).argmax(dim=1).numpy()
    print(f"test accuracy {(predicted == y_test).mean():.4f}")


if __name__ == "__main__":
    main()
