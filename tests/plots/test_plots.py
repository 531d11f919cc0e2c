"""Figures: ROC, precision-recall and confusion matrices show the right curves, areas and cells,
save as PNG, and a class absent from y_true gives a warning, not a crash."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from neuralab import plots
from neuralab.metrics import (
    UndefinedMetricWarning,
    average_precision,
    confusion_matrix,
    roc_auc_scores,
    threshold_for_fpr,
)

NAMES = {2: ["healthy", "cancer"], 4: ["cat", "dog", "fox", "owl"]}


def problem(K, n=120, absent=None, seed=0):
    """(y, probs): informative softmax probabilities; class ``absent`` never occurs in y."""
    rng = np.random.default_rng(seed)
    classes = [k for k in range(K) if k != absent]
    y = rng.choice(classes, size=n)
    logits = rng.normal(size=(n, K))
    logits[np.arange(n), y] += 1.5
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, probs / probs.sum(axis=1, keepdims=True)


def legend_texts(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def saved_png(fig, tmp_path, name):
    path = plots.save_figure(fig, tmp_path / name)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    return path


# --------------------------------------------------------------------------- ROC


@pytest.mark.parametrize("K", [2, 4])
def test_roc_figure_draws_one_curve_per_class_with_its_auc(K, tmp_path):
    y, probs = problem(K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every class present: no warning
        fig = plots.roc_figure(y, probs, NAMES[K])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    aucs = roc_auc_scores(y, probs, class_names=NAMES[K])["per_class"]
    expected = [f"{name} (AUC {auc:.2f})" for name, auc in aucs.items()] + ["chance (AUC 0.50)"]
    assert legend_texts(fig) == expected
    assert len(ax.get_lines()) == (1 if K == 2 else K) + 1
    chance = ax.get_lines()[-1]
    assert list(chance.get_xdata()) == list(chance.get_ydata()) == [0, 1]
    assert ax.get_xlabel() == "false positive rate" and ax.get_ylabel() == "true positive rate"
    assert ax.get_title() == "ROC"
    saved_png(fig, tmp_path, f"roc{K}.png")


def test_roc_figure_of_the_lecture_example_names_the_positive_class():
    y = np.array([1] * 8 + [0] * 4)
    s = np.array([.95, .9, .8, .75, .7, .6, .4, .3, .55, .2, .1, .05])
    fig = plots.roc_figure(y, np.c_[1 - s, s], ["healthy", "cancer"], title="cancer screening")
    assert legend_texts(fig)[0] == "cancer (AUC 0.94)"  # 30 of 32 pairs ranked right
    assert fig.axes[0].get_title() == "cancer screening"


def test_roc_figure_marks_an_operating_point(tmp_path):
    y, probs = problem(2, n=400)
    op = threshold_for_fpr(y, probs[:, 1], max_fpr=0.1)
    fig = plots.roc_figure(y, probs, NAMES[2], operating_point=op)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3 and len(legend_texts(fig)) == 3
    marker = lines[-1]
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (op.fpr, op.tpr)
    assert legend_texts(fig)[-1] == (f"operating point (FPR {op.fpr:.2f}, TPR {op.tpr:.2f}, "
                                     f"threshold {op.threshold:.3g})")
    fig = plots.roc_figure(y, probs, NAMES[2], operating_point=(0.25, 0.75), operating_label="t = 0.5")
    assert legend_texts(fig)[-1] == "t = 0.5"
    assert fig.axes[0].get_lines()[-1].get_xydata().tolist() == [[0.25, 0.75]]
    saved_png(fig, tmp_path, "roc_op.png")


@pytest.mark.parametrize("K, absent", [(2, 1), (2, 0), (4, 2)])
def test_roc_figure_with_a_class_absent_warns_and_draws_the_rest(K, absent, tmp_path):
    y, probs = problem(K, absent=absent)
    with pytest.warns(UndefinedMetricWarning, match="ROC curve is undefined"):
        fig = plots.roc_figure(y, probs, NAMES[K])
    texts = legend_texts(fig)
    # binary: no curve at all once one class is missing; 4 classes: the 3 present
    n_curves = 0 if K == 2 else K - 1
    assert len(fig.axes[0].get_lines()) == n_curves + 1 and len(texts) == n_curves + 1
    assert not any(t.startswith(NAMES[K][absent] + " ") for t in texts)
    saved_png(fig, tmp_path, "roc_absent.png")


# --------------------------------------------------------------------------- precision-recall


@pytest.mark.parametrize("K", [2, 4])
def test_pr_figure_draws_one_curve_per_class_with_its_average_precision(K, tmp_path):
    y, probs = problem(K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.pr_figure(y, probs, NAMES[K])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    aps = average_precision(y, probs, class_names=NAMES[K])["per_class"]
    assert legend_texts(fig) == [f"{name} (AP {ap:.2f})" for name, ap in aps.items()]
    assert len(ax.get_lines()) == (1 if K == 2 else K)
    assert ax.get_xlabel() == "recall" and ax.get_ylabel() == "precision"
    assert ax.get_title() == "precision-recall"
    saved_png(fig, tmp_path, f"pr{K}.png")


@pytest.mark.parametrize("K, absent", [(2, 1), (4, 0)])
def test_pr_figure_with_a_class_absent_warns_and_draws_the_rest(K, absent, tmp_path):
    y, probs = problem(K, absent=absent)
    with pytest.warns(UndefinedMetricWarning, match="precision-recall curve is undefined"):
        fig = plots.pr_figure(y, probs, NAMES[K], title="PR")
    n_curves = 0 if K == 2 else K - 1
    assert len(fig.axes[0].get_lines()) == n_curves
    if n_curves:
        assert len(legend_texts(fig)) == n_curves
    saved_png(fig, tmp_path, "pr_absent.png")


def test_pr_figure_of_a_class_alone_in_y_true_is_a_flat_line_at_precision_1():
    y = np.array([1, 1, 1])
    fig = plots.pr_figure(y, np.array([[.3, .7], [.6, .4], [.2, .8]]), None)
    assert legend_texts(fig) == ["1 (AP 1.00)"]
    assert set(fig.axes[0].get_lines()[0].get_ydata()) == {1.0}


# --------------------------------------------------------------------------- confusion matrix


def cell_texts(fig):
    (labels,) = fig.axes[0].artists
    return labels.texts


def _png_pixels(fig) -> np.ndarray:
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    buf.seek(0)
    with Image.open(buf) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("normalized", [False, True])
def test_confusion_cell_values_are_drawn_where_text_artists_would_draw_them(normalized):
    """The cell values, written straight through the renderer, give the very pixels of
    one centred Text artist per cell: same place, same colour, "n/a" rows included."""
    cm = np.array([[5103, 12, 0], [7, 980, 1234], [0, 0, 0]])  # class 2 absent: n/a
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        fig = plots.confusion_figure(cm, ["T-shirt/top", "Trouser", "Bag"], normalized=normalized)
    ax = fig.axes[0]
    (labels,) = ax.artists
    assert len(labels.texts) == 9 and len(ax.texts) == 0
    assert ("n/a" in labels.texts) == normalized
    drawn = _png_pixels(fig)
    labels.remove()
    for (x, y), text, colour in zip(labels.xy, labels.texts, labels.colours):
        ax.text(x, y, text, ha="center", va="center", color=colour, fontsize=8)
    as_text = _png_pixels(fig)
    assert np.array_equal(drawn, as_text)
    labels.set_visible(False)
    ax.add_artist(labels)
    for text in list(ax.texts):
        text.remove()
    without = _png_pixels(fig)
    assert not np.array_equal(without, as_text)  # the comparison saw the labels


def test_cell_labels_need_a_text_and_a_colour_per_point():
    with pytest.raises(ValueError, match="as many texts and colours as points"):
        plots.cell_labels([0, 1], [0, 1], ["a"], ["black", "black"], fontsize=8)


def test_confusion_figure_counts_are_unchanged_and_normalized_shows_fractions(tmp_path):
    cm = np.array([[3, 1], [2, 6]])  # the lecture's 12 patients
    counts = plots.confusion_figure(cm, NAMES[2])
    assert cell_texts(counts) == ["3", "1", "2", "6"]
    fractions = plots.confusion_figure(cm, NAMES[2], normalized=True)
    assert cell_texts(fractions) == ["0.75", "0.25", "0.25", "0.75"]
    # coloured by fraction, on a fixed 0..1 scale
    image = fractions.axes[0].get_images()[0]
    assert image.get_clim() == (0.0, 1.0)
    np.testing.assert_allclose(image.get_array(), [[0.75, 0.25], [0.25, 0.75]])
    saved_png(counts, tmp_path, "cm.png")
    saved_png(fractions, tmp_path, "cm_normalized.png")


def test_normalized_confusion_figure_with_a_class_absent_warns(tmp_path):
    y, probs = problem(4, absent=3)
    cm = confusion_matrix(y, probs.argmax(axis=1), 4)
    with pytest.warns(UndefinedMetricWarning, match="class owl sums to 0"):
        fig = plots.confusion_figure(cm, NAMES[4], normalized=True)
    texts = cell_texts(fig)
    assert texts[12:] == ["n/a"] * 4
    for row in range(3):
        assert sum(float(t) for t in texts[4 * row:4 * row + 4]) == pytest.approx(1.0, abs=0.02)
    saved_png(fig, tmp_path, "cm_absent.png")


def _zlib_level_class(png: bytes) -> int:
    """The compression level class (0 fastest .. 3 best) a PNG's zlib stream declares."""
    import struct

    at = 8  # the signature; then chunks: length, type, data, CRC
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at:at + 4]), png[at + 4:at + 8]
        if kind == b"IDAT":
            return png[at + 9] >> 6  # FLEVEL: the top two bits of the zlib header's 2nd byte
        at += 12 + length
    raise AssertionError("no IDAT chunk")


def test_figures_are_saved_with_the_faster_compression_and_read_back_whole(tmp_path):
    from PIL import Image

    fig = plots.new_figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1, 2], [1, 0, 1])
    path = plots.save_figure(fig, tmp_path / "f.png")
    data = path.read_bytes()
    assert plots.PNG_COMPRESS_LEVEL == 3
    assert _zlib_level_class(data) == 1  # zlib's "fast" class (levels 2-5), not 6's "default"
    with Image.open(path) as image:
        assert image.size == (330, 220)  # 3 x 2 inches at 110 dpi, decoded whole
        image.load()


_LEAN_PROBE = """
import hashlib, sys
import numpy as np
from neuralab import plots
plots.preload()
from matplotlib.lines import Line2D
fig = plots.confusion_figure(np.array([[5, 1], [2, 7]]), ["healthy", "cancer"], title="t")
line = fig.axes[0].plot([0, 1], [1, 0])[0]
line.set(color="red", linewidth=3)  # set() works whichever way the artists were defined
assert (line.get_color(), line.get_linewidth()) == ("red", 3)
plots.save_figure(fig, sys.argv[1])
print(bool(Line2D.set.__doc__ and "linewidth" in Line2D.set.__doc__))
"""


def test_matplotlib_imported_lean_draws_the_same_figures(tmp_path):
    """With NEURALAB_LEAN_MATPLOTLIB (the neuralab program's), matplotlib's artists come
    without the help text of their set() methods, and every figure is the same, byte for
    byte, as with matplotlib imported whole."""
    import os
    import subprocess
    import sys

    import matplotlib

    def draw(flag: str, name: str) -> tuple[str, bytes]:
        env = {k: v for k, v in os.environ.items() if k != plots.LEAN}
        if flag:
            env[plots.LEAN] = flag
        done = subprocess.run([sys.executable, "-c", _LEAN_PROBE, str(tmp_path / name)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip(), (tmp_path / name).read_bytes()

    version = tuple(int(p) for p in matplotlib.__version__.split(".")[:2])
    checked = plots.LEAN_VERSIONS[0] <= version < plots.LEAN_VERSIONS[1]
    whole_help, whole = draw("", "whole.png")
    lean_help, lean = draw("1", "lean.png")
    assert whole_help == "True"
    assert lean_help == str(not checked)  # outside the checked releases it is left whole
    assert lean == whole
