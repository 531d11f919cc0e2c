"""Gradient check: the engine's backward pass against central differences.

For every weight and bias entry w, the numeric gradient is
(L(w + eps) - L(w - eps)) / (2 eps) with eps = 1e-6, in float64; the analytic
gradient is what ``backward`` computed. Each parameter reports its largest
relative error |analytic - numeric| / (|analytic| + |numeric|) (with a small
floor on the denominator, see neuralab.gradcheck). A correct backward pass gives
errors below 1e-6: here about 1e-7 or less, the round-off of the difference
quotient (about 1e-16 * |L| / eps), while a wrong gradient gives errors near 1.

Two details keep the check honest:
- ReLU has a kink at 0, where the central difference straddles two slopes. Each
  spiral arm starts exactly at the origin (radius 0), and with zero biases every
  pre-activation of that point is exactly 0, on the kink, so those points are left out.
- The lecture's 0.01 * N(0, 1) weights make the pre-activations of a deeper net so
  small that many lie within eps of the kink; He initialisation avoids that.

Run:  .venv/bin/python examples/04_gradient_check.py
"""

import numpy as np

from neuralab.data import spiral
from neuralab.gradcheck import TOLERANCE, check_model
from neuralab.nn import MLP

# A small spiral, without the points at the origin.
X, y = spiral(n_per_class=20, n_classes=3, noise=0.2, seed=0)
away_from_origin = np.any(X != 0, axis=1)
X, y = X[away_from_origin], y[away_from_origin]
print(f"data: {len(X)} spiral points (the {int((~away_from_origin).sum())} at the origin left out)")

reg = 1e-3  # the loss is CE + 0.5 * reg * sum of W^2, so the check covers the penalty too
all_passed = True
for sizes in ([2, 10, 3], [2, 16, 16, 3]):
    model = MLP(sizes, init="he", seed=1)
    print(f"{model}, reg {reg}:")
    for result in check_model(model, X, y, reg=reg):
        print(f"  {result.name:<3} shape {str(result.shape):<9} "
              f"max relative error {result.max_rel_error:.2e}")
        all_passed = all_passed and result.passed()

print(f"all parameters below {TOLERANCE:g}: {'yes' if all_passed else 'NO'}")
