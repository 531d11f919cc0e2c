"""Wide layers: evaluation in row blocks, and large float32 products through torch's BLAS."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

from neuralab.nn import MLP, kernels, models
from neuralab.nn.layers import matmul_into
from neuralab.train import make_engine_trainer


def one_batch(trainer, X, y):
    """The loss and outputs of one forward pass over all rows: what evaluate gave before blocks."""
    loss = float(trainer.loss_fn.forward(trainer.model.forward(X), y)) + trainer._penalties()
    kept = trainer.loss_fn.outputs if trainer.task == "regression" else trainer.loss_fn.probs
    return loss, kept.copy()


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 16 rows for a net whose widest layer is 32 float64 wide."""
    monkeypatch.setattr(models, "BLOCK_BYTES", 16 * 32 * 8)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_evaluation_in_blocks_equals_one_batch(task, small_blocks, rng):
    n = 203  # 13 blocks of 16 and a shorter one
    X = rng.standard_normal((n, 5))
    if task == "regression":
        y, sizes, weights = rng.standard_normal(n), [5, 32, 1], None
    else:
        y, sizes, weights = rng.integers(0, 3, n), [5, 32, 3], [0.5, 2.0, 1.25]
    trainer = make_engine_trainer(sizes, init="he", seed=3, reg=1e-2, l1=1e-3,
                                  class_weight=weights, task=task)
    blocks = trainer.model.blocks(n)
    assert len(blocks) == 13 and max(b - a for a, b in blocks) <= 16
    loss, out = trainer.evaluate(X, y)
    # the work arrays never held more than a block's rows (a pass this small runs through
    # the model itself, not twins: threads.ONE_THREAD_PRODUCT)
    assert trainer.model.linears[0]._buffers["z"].shape[0] <= 16
    ref_loss, ref_out = one_batch(trainer, X, y)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-15)
    if task == "classification":  # class weights change the loss: they were applied
        plain = make_engine_trainer(sizes, init="he", seed=3, reg=1e-2, l1=1e-3)
        assert abs(plain.evaluate(X, y)[0] - loss) > 1e-6
        np.testing.assert_array_equal(trainer.predict_proba(X), out)
        np.testing.assert_array_equal(trainer.model.predict(X), ref_out.argmax(axis=1))
    else:
        np.testing.assert_array_equal(trainer.predict_output(X), out)
    np.testing.assert_array_equal(trainer.model.outputs(X), trainer.model(X))


def test_row_blocks_are_sized_by_bytes():
    net = MLP([784, 1600, 10], dtype="float32")
    blocks = net.blocks(60_000)
    # 23 blocks of 2,609 rows (and a last of 2,602): at most 16 MiB of (rows, 1600) float32
    assert len(blocks) == 23 and blocks[0] == (0, 2609) and blocks[-1] == (57_398, 60_000)
    assert all(a == b for (_, a), (b, _) in itertools.pairwise(blocks))  # contiguous, no gaps
    assert len(MLP([2, 100, 3]).blocks(300)) == 1  # the spiral: one block, as before


def test_a_written_gradient_equals_zeroing_and_adding(rng):
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    net = MLP([4, 8, 6, 3], seed=1)
    net.forward(X)
    from neuralab.nn import SoftmaxCrossEntropy

    loss = SoftmaxCrossEntropy()
    loss.forward(net.scores, y)
    for p in net.parameters():
        p.grad[...] = 7.0  # stale gradients: accumulate=False must overwrite them
    net.backward(loss.backward(), accumulate=False)
    written = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    net.backward(loss.backward())
    for w, p in zip(written, net.parameters()):
        np.testing.assert_array_equal(w, p.grad, err_msg=p.name)
    assert "dW1" in net.intermediates()


def test_wide_float32_layers_compute_in_torch_and_agree_with_numpy(rng):
    assert kernels.wide(784, 400, np.float32) and kernels.wide(784, 1600, "float32")
    assert not kernels.wide(784, 1600, np.float64)  # float64: NumPy, bit for bit as before
    assert not kernels.wide(784, 100, np.float32)  # the lecture's Fashion-MNIST net
    a = rng.standard_normal((128, 784)).astype(np.float32)
    b = rng.standard_normal((784, 400)).astype(np.float32)
    # transposed views too, and reversed rows (which torch cannot share: NumPy does them)
    for x, w in ((a, b), (b.T[:, :128], a.T[:128]), (a.T[:, :64].T, b), (a[::-1], b)):
        out = np.empty((x.shape[0], w.shape[1]), np.float32)
        matmul_into(x, w, out, in_torch=True)
        np.testing.assert_allclose(out, x.astype(np.float64) @ w, rtol=1e-4, atol=1e-3)


def test_a_float32_step_through_torch_matches_the_numpy_step(monkeypatch, rng):
    X, y = rng.standard_normal((64, 30)).astype(np.float32), rng.integers(0, 4, 64)

    def trained(min_weights):
        monkeypatch.setattr(kernels, "TORCH_MIN_WEIGHTS", min_weights)
        tr = make_engine_trainer([30, 40, 4], dtype="float32", init="he", lr=0.1, reg=1e-3)
        assert tr.products_in_torch(64) == (min_weights == 0)
        losses = [tr.train_step(X, y)[0] for _ in range(5)]
        return losses, tr.state_dict()

    via_torch, numpy_only = trained(0), trained(10**18)
    np.testing.assert_allclose(via_torch[0], numpy_only[0], rtol=1e-5)
    for name, value in via_torch[1].items():
        np.testing.assert_allclose(value, numpy_only[1][name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_update_in_blocks_is_the_whole_update_bit_for_bit(monkeypatch, dtype, rng):
    monkeypatch.setattr(kernels, "UPDATE_BLOCK", 7)
    y, x = rng.standard_normal((9, 5)).astype(dtype), rng.standard_normal((9, 5)).astype(dtype)
    expected = y + dtype(-0.3) * x
    kernels.add_scaled(y, -0.3, x, np.empty_like(y))
    np.testing.assert_array_equal(y, expected)


SMALL_NETS = """
import sys
import numpy as np
from neuralab.data import spiral
from neuralab.train import fit, make_engine_trainer
X, y = spiral(seed=0)
for dtype in ("float64", "float32"):
    trainer = make_engine_trainer([2, 100, 3], dtype=dtype, lr=1.0)
    fit(trainer, X.astype(dtype), y, iterations=20, progress=False)
    trainer.predict_proba(X)
fit(make_engine_trainer([4, 8, 2], dtype="float32"), np.zeros((16, 4), "float32"),
    np.arange(16) % 2, epochs=2, batch_size=4, progress=False)
# the lecture's Fashion-MNIST net, its evaluation in blocks of 5,350 rows included
fashion = make_engine_trainer([784, 100, 10], dtype="float32")
fashion.evaluate(np.zeros((6000, 784), "float32"), np.arange(6000) % 10)
print("torch" in sys.modules)
"""


def test_small_networks_never_import_torch():
    out = subprocess.run([sys.executable, "-c", SMALL_NETS], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
