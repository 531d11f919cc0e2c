"""Weight and activation statistics per layer, dead ReLU units, and their histograms.

:func:`layer_statistics` forwards the inputs a block of rows at a time
(:data:`neuralab.explain.common.BLOCK_ROWS`), so a large data set never has all
its activations in memory; :func:`layer_statistics_figure` draws the histograms
it keeps. Running the model overwrites its forward buffers (what
:meth:`MLP.intermediates` returns) but never its weights or gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from neuralab import NeuralabError
from neuralab import plots
from neuralab.explain import common
from neuralab.explain.common import check_model, raw_inputs
from neuralab.nn.activations import ReLU
from neuralab.nn.models import MLP


def _summary(a: np.ndarray, prefix: str) -> dict:
    a = np.asarray(a, dtype=np.float64)
    return {f"{prefix}_mean": float(a.mean()), f"{prefix}_std": float(a.std()),
            f"{prefix}_min": float(a.min()), f"{prefix}_max": float(a.max()),
            f"{prefix}_norm": float(np.sqrt(np.sum(a * a)))}


def _hidden_outputs(model: MLP, X: np.ndarray):
    """For each block of rows of X, the hidden layers' outputs ``[o_1, ..., o_{L-1}]``.

    The arrays are the engine's buffers: use them before asking for the next block.
    """
    L, block = model.depth, common.BLOCK_ROWS
    for start in range(0, X.shape[0], block):
        model.forward(X[start:start + block])
        inter = model.intermediates()
        yield [inter[f"hidden{i}"] for i in range(1, L)]


class _ActivationTally:
    """Running statistics of one hidden layer's outputs, fed a block of rows at a time.

    The mean and the sum of squared deviations ``m2`` combine block by block with
    Chan's pairwise formula, which keeps the variance accurate; ``alive`` marks the
    units that were non-zero for some input.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.zeros = 0
        self.lo = np.inf
        self.hi = -np.inf
        self.alive = np.zeros(width, dtype=bool)

    def add(self, o: np.ndarray) -> None:
        n_b = o.size
        mean_b = float(o.mean(dtype=np.float64))
        m2_b = float(np.sum((o.astype(np.float64) - mean_b) ** 2))
        seen = self.rows * self.width
        total = seen + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * seen * n_b / total
        nz = o != 0
        self.zeros += int(n_b - np.count_nonzero(nz))
        self.alive |= nz.any(axis=0)
        self.lo = min(self.lo, float(o.min()))
        self.hi = max(self.hi, float(o.max()))
        self.rows += o.shape[0]

    @property
    def values(self) -> int:
        return self.rows * self.width


def _activation_tallies(model: MLP, X: np.ndarray) -> list[_ActivationTally]:
    """Pass 1 over X: moments, zeros, alive units and range of every hidden layer."""
    tallies = [_ActivationTally(w) for w in model.sizes[1:-1]]
    for outs in _hidden_outputs(model, X):
        for tally, o in zip(tallies, outs):
            tally.add(o)
    return tallies


def _activation_histograms(model: MLP, X: np.ndarray, tallies: list[_ActivationTally],
                           bins: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pass 2 over X: ``(counts, edges)`` of every hidden layer, on the range pass 1 found."""
    edges = [np.histogram_bin_edges([t.lo, t.hi], bins=bins) for t in tallies]
    counts = [np.zeros(bins, dtype=np.int64) for _ in tallies]
    if tallies:
        for outs in _hidden_outputs(model, X):
            for i, o in enumerate(outs):
                counts[i] += np.histogram(o, bins=edges[i])[0]
    return list(zip(counts, edges))


def _weight_row(i: int, linear, bins: int) -> dict:
    """Layer i's row with its weight and bias statistics; the activation keys None."""
    W, b = linear.W.data, linear.b.data
    row = {"layer": i, "name": f"W{i}: {linear.d_in} -> {linear.d_out}",
           "d_in": linear.d_in, "d_out": linear.d_out}
    row.update(_summary(W, "weight"))
    row.update(_summary(b, "bias"))
    row.update({"activation": None, "activation_mean": None, "activation_std": None,
                "zero_share": None, "dead_units": None, "dead_unit_indices": None,
                "weight_histogram": np.histogram(np.asarray(W, np.float64), bins=bins),
                "activation_histogram": None})
    return row


def _activation_row(act, tally: _ActivationTally, histogram) -> dict:
    """The activation keys of a hidden layer's row; dead units for a ReLU layer only."""
    total = tally.values
    row = {"activation": getattr(act, "name", type(act).__name__.lower()),
           "activation_mean": tally.mean,
           "activation_std": math.sqrt(max(tally.m2 / total, 0.0)),
           "zero_share": tally.zeros / total,
           "activation_histogram": histogram}
    if isinstance(act, ReLU):
        dead = np.flatnonzero(~tally.alive)
        row["dead_units"] = int(dead.size)
        row["dead_unit_indices"] = dead.tolist()
    return row


def layer_statistics(model: MLP, X_scaled: np.ndarray, *, bins: int = 50) -> list[dict]:
    """Weight statistics per Linear layer and activation statistics per hidden layer.

    Parameters
    ----------
    model : MLP
    X_scaled : ndarray of shape (n, d_0)
        Inputs as the model sees them (already standardised). The activation
        statistics are over all of them (forwarded a block of rows at a time).
    bins : int
        Bins of the histograms kept for :func:`layer_statistics_figure`.

    Returns
    -------
    list of dict
        One dict per Linear layer i = 1..L, in order, with the keys

        - ``layer`` (i), ``name`` (``"W1: 2 -> 100"``), ``d_in``, ``d_out``;
        - ``weight_mean``, ``weight_std``, ``weight_min``, ``weight_max``,
          ``weight_norm`` (Frobenius), and the same five ``bias_*``;
        - ``activation``: the activation's name after a hidden layer, None after
          the output layer (whose logits have no activation; the remaining keys
          are then None);
        - ``activation_mean``, ``activation_std``: over every value ``o_i`` takes
          (all units, all inputs), after the activation;
        - ``zero_share``: the fraction of those values that are exactly 0;
        - ``dead_units``, ``dead_unit_indices``: for ReLU, the units whose output
          is 0 for every input (they pass no gradient, so training cannot revive
          them); None for other activations, whose output is rarely exactly 0;
        - ``weight_histogram``, ``activation_histogram``: ``(counts, edges)``.

    Examples
    --------
    >>> from neuralab.nn import MLP
    >>> model = MLP([2, 3, 2], seed=0)
    >>> model.linears[0].W.data[:, 1] = 0.0
    >>> model.linears[0].b.data[1] = -1.0      # unit 1 never fires
    >>> stats = layer_statistics(model, np.random.default_rng(0).normal(size=(50, 2)))
    >>> stats[0]["dead_units"], stats[0]["dead_unit_indices"], stats[1]["activation"]
    (1, [1], None)
    """
    model = check_model(model)
    X = raw_inputs(model, X_scaled, name="X_scaled")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise NeuralabError(f"bins must be a positive integer, got {bins!r}")
    bins = int(bins)
    tallies = _activation_tallies(model, X)
    histograms = _activation_histograms(model, X, tallies, bins)
    stats = []
    for i, linear in enumerate(model.linears, start=1):
        row = _weight_row(i, linear, bins)
        if i < model.depth:
            row.update(_activation_row(model.activations[i - 1], tallies[i - 1], histograms[i - 1]))
        stats.append(row)
    return stats


def layer_statistics_figure(stats: Sequence[dict]):
    """Histograms of each layer's weights (top row) and hidden activations (bottom row).

    Parameters
    ----------
    stats : list of dict
        What :func:`layer_statistics` returns.

    Returns
    -------
    matplotlib.figure.Figure
        One column per Linear layer; a weight histogram in the top row, and for
        each hidden layer its activation histogram (log counts, since a ReLU
        layer's exact zeros would flatten the rest) below it, titled with the
        share of zeros and the dead units.
    """
    stats = list(stats)
    if not stats or any("weight_histogram" not in s for s in stats):
        raise NeuralabError("stats must be the non-empty list that layer_statistics returns")
    L = len(stats)
    has_act = any(s.get("activation_histogram") is not None for s in stats)
    nrows = 2 if has_act else 1
    fig = plots.new_figure(figsize=(3.2 * L + 0.4, 2.7 * nrows + 0.4))
    for c, s in enumerate(stats):
        ax = fig.add_subplot(nrows, L, c + 1)
        counts, edges = s["weight_histogram"]
        ax.stairs(counts, edges, fill=True, color="#1f77b4", alpha=0.8)
        ax.set_title(f"{s['name']}\nnorm {s['weight_norm']:.3g}, std {s['weight_std']:.3g}",
                     fontsize=8)
        ax.set_xlabel("weight", fontsize=8)
        ax.tick_params(labelsize=7)
        if s.get("activation_histogram") is None:
            continue
        ax = fig.add_subplot(nrows, L, L + c + 1)
        counts, edges = s["activation_histogram"]
        ax.stairs(counts, edges, fill=True, color="#2ca02c", alpha=0.8)
        ax.set_yscale("log")
        note = f"{100 * s['zero_share']:.0f}% zeros"
        if s.get("dead_units") is not None:
            note += f", {s['dead_units']} dead"
        ax.set_title(f"hidden{s['layer']} ({s['activation']}): {note}", fontsize=8)
        ax.set_xlabel("activation o_i", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


__all__ = ["layer_statistics", "layer_statistics_figure"]
