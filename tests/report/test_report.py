"""report.html: a self-contained page per run directory, and the demo's comparison page."""

import base64
import csv
import json
import math
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest

from neuralab import NeuralabError
from neuralab.data import load
from neuralab.config import TrainSettings
from neuralab.lab import run_training
from neuralab.report import build_comparison_report, build_report, list_figures

DASH = "–"


# --- helpers ------------------------------------------------------------------------------

class _Tables(HTMLParser):
    """Every <table> of a page as {"class": ..., "rows": [[cell text, ...], ...], "foot": [...]}.

    Header and body rows are in "rows"; the rows of <tfoot> (the per-class averages) in "foot".
    """

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell, self._foot = [], None, None, False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"class": dict(attrs).get("class") or "", "rows": [], "foot": []})
        elif tag == "tfoot":
            self._foot = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["foot" if self._foot else "rows"].append(self._row)
            self._row = None
        elif tag == "tfoot":
            self._foot = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(fragment: str) -> list[dict]:
    parser = _Tables()
    parser.feed(fragment)
    return parser.tables


def kv(fragment: str) -> dict[str, str]:
    """The first key/value table of a fragment as a dict."""
    table = next(t for t in tables(fragment) if t["class"] == "kv")
    return {row[0]: row[1] for row in table["rows"]}


def section(page: str, start: str) -> str:
    """From the heading ``start`` to the next heading of the same or a higher level."""
    i = page.index(start)
    level = int(start[2])
    ends = [page.find(f"<h{k}", i + len(start)) for k in range(1, level + 1)]
    ends = [e for e in ends if e != -1]
    return page[i:min(ends) if ends else len(page)]


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def small_png(path, colour: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().imshow(np.eye(3), cmap=colour)
    fig.savefig(path, format="png", dpi=20)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    run_training(load("moons", seed=0),
                 TrainSettings(hidden=[8], iterations=200, lr=0.5, test_fraction=0.25),
                 out=out, echo=None, progress=False, name="moons-run")
    return out


@pytest.fixture
def run_copy(run_dir, tmp_path):
    """A private copy of the run directory that a test may change."""
    dst = tmp_path / "run"
    shutil.copytree(run_dir, dst)
    (dst / "report.html").unlink(missing_ok=True)
    return dst


@pytest.fixture(scope="module")
def report(run_dir):
    path = build_report(run_dir)
    return path, path.read_text(encoding="utf-8")


def read(run, name):
    return json.loads((run / name).read_text())


# --- one run ------------------------------------------------------------------------------

def test_report_is_written_atomically_into_the_run_directory(run_dir, report):
    path, page = report
    assert path == run_dir / "report.html" and path.is_file()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not list(run_dir.glob(".report.html.*"))  # no temporary file left behind


def test_report_loads_nothing_from_the_network(report):
    _, page = report
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert refs, "the page should at least embed its figures"
    assert not [r for r in refs if re.match(r"(https?:)?//", r, flags=re.I)]
    for external in ("<link", "<script", "@import", "url("):
        assert external not in page


def test_every_figure_is_embedded_with_a_caption_in_order(run_dir, report):
    _, page = report
    pngs = sorted((run_dir / "figures").glob("*.png"))
    assert {p.name for p in pngs} >= {"loss.png", "boundary.png", "confusion_train.png",
                                      "confusion_test.png"}
    for png in pngs:
        assert f'src="data:image/png;base64,{b64(png)}"' in page, png.name
        assert f"<code>figures/{png.name}</code></figcaption>" in page
    where = [page.index(f"figures/{n}</code>") for n in
             ("loss.png", "boundary.png", "confusion_train.png", "confusion_test.png")]
    assert where == sorted(where)
    assert "Confusion matrix (test)" in page


def test_header_names_the_run_its_time_and_versions(run_dir, report):
    _, page = report
    config = read(run_dir, "config.json")
    head = page[:page.index('<h2 id="settings">')]
    assert "moons-run" in head
    assert config["created"][:10] in head
    for pkg in ("neuralab", "numpy", "torch"):
        assert f"{pkg} {config['versions'][pkg]}" in head


def test_every_setting_and_the_run_facts_are_listed(run_dir, report):
    _, page = report
    config = read(run_dir, "config.json")
    part = section(page, '<h2 id="settings">')
    settings = kv(part)
    assert list(settings) == list(config["settings"])
    assert settings["hidden"] == "[8]" and settings["lr"] == "0.5"
    assert settings["test_fraction"] == "0.25" and settings["epochs"] == DASH
    facts = kv(part[part.index("<h3>Run</h3>"):])
    assert facts["backend"] == "numpy" and facts["device"] == "cpu"
    assert facts["steps"] == "200" and facts["seed"] == "0"
    assert facts["train_seconds"].endswith(" s")


def test_data_and_model_sections(run_dir, report):
    _, page = report
    data = read(run_dir, "config.json")["data"]
    part = section(page, '<h2 id="data">')
    facts = kv(part)
    assert facts["name"] == "moons" and facts["source"] == data["source"]
    assert facts["train shape"] == " × ".join(map(str, data["train_shape"]))
    assert facts["test source"] == data["test_source"]
    classes = next(t for t in tables(part) if t["rows"][0][:3] == ["label", "class", "count"])
    assert [r[2] for r in classes["rows"][1:]] == [str(c) for c in data["class_counts"]]

    part = section(page, '<h2 id="model">')
    facts = kv(part)
    assert facts["sizes"] == "2 -> 8 -> 2" and "2 -&gt; 8 -&gt; 2" in part
    assert facts["activation"] == "relu" and facts["dtype"] == "float64"
    assert facts["parameters"] == str(2 * 8 + 8 + 8 * 2 + 2)
    pre = read(run_dir, "model.json")["preprocessing"]
    if all(m == 0 for m in pre["mean"]) and all(v == 1 for v in pre["scale"]):
        assert "Identity" in part
    else:
        table = next(t for t in tables(part) if t["rows"][0] == ["feature", "mean", "scale"])
        assert [r[1:] for r in table["rows"][1:]] == [
            [f"{m:.4f}", f"{v:.4f}"] for m, v in zip(pre["mean"], pre["scale"])]
    shapes = {r[0]: r[1] for r in tables(part)[-1]["rows"][1:]}
    assert shapes == {"W1": "(2, 8)", "b1": "(8,)", "W2": "(8, 2)", "b2": "(2,)"}
    assert "W_i has shape (d_{i-1}, d_i)" in part


def test_training_summary_shows_first_last_and_best_val_loss(run_dir, report):
    _, page = report
    with open(run_dir / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    part = section(page, '<h2 id="training">')
    table = tables(part)[0]["rows"]
    assert table[0][1:] == list(rows[0])
    first, last = table[1], table[2]
    assert first[0] == "first" and first[1] == rows[0]["step"]
    assert first[2] == f"{float(rows[0]['loss']):.4f}"
    assert last[0] == "last" and last[1] == rows[-1]["step"]
    assert last[3] == pct(float(rows[-1]["train_accuracy"]))
    best = min(rows, key=lambda r: float(r["val_loss"]))
    assert f"Best val loss {float(best['val_loss']):.4f} at step {best['step']}" in part


def test_every_split_shows_its_scalars_per_class_rows_and_confusion_matrix(run_dir, report):
    _, page = report
    metrics = read(run_dir, "metrics.json")
    assert set(metrics) == {"train", "test"}
    for split, m in metrics.items():
        part = section(page, f'<h3 id="metrics-{split}">')
        scalars = kv(part)
        assert scalars["accuracy"] == pct(m["accuracy"])
        assert scalars["loss"] == f"{m['loss']:.4f}"
        assert scalars["log_loss"] == f"{m['log_loss']:.4f}"
        assert scalars["roc_auc"] == f"{m['roc_auc']:.4f}"

        found = tables(part)
        per_class = next(t for t in found if t["rows"][0][0] == "class")["rows"]
        head = per_class[0]
        assert head[:8] == ["class", "precision", "recall", "f1", "fpr", "tpr", "tnr", "support"]
        assert [r[0] for r in per_class[1:]] == list(m["per_class"])
        foot = next(t for t in found if t["rows"][0][0] == "class")["foot"]
        assert [r[0] for r in foot] == ["macro avg", "weighted avg"]
        assert [r[7] for r in foot] == [str(m["n_samples"])] * 2  # support: the split's size
        for row, (name, values) in zip(per_class[1:], m["per_class"].items()):
            assert row[1] == f"{values['precision']:.3f}", name
            assert row[4] == f"{values['fpr']:.3f}", name
            assert row[7] == str(values["support"])
        # split-level {name: value} dicts (roc_auc_per_class, ...) become columns
        extra = {k[:-len("_per_class")]: v for k, v in m.items()
                 if k.endswith("_per_class") and k != "per_class"}
        assert head[8:] == list(extra)
        for col, values in extra.items():
            cells = [r[head.index(col)] for r in per_class[1:]]
            assert cells == [DASH if values.get(n) is None else f"{values[n]:.3f}"
                             for n in m["per_class"]], col

        cm = next(t for t in found if t["class"] == "cm")["rows"]
        names = list(m["per_class"])
        assert cm[0][1:] == [*names, "total"]
        assert [r[0] for r in cm[1:]] == names  # rows are the true classes
        assert [[int(c) for c in r[1:-1]] for r in cm[1:]] == m["confusion_matrix"]
        assert [int(r[-1]) for r in cm[1:]] == [sum(r) for r in m["confusion_matrix"]]


def test_a_run_without_figures_history_model_or_test_split_still_gets_a_page(run_copy):
    shutil.rmtree(run_copy / "figures")
    (run_copy / "history.csv").unlink()
    (run_copy / "model.json").unlink()
    metrics = read(run_copy, "metrics.json")
    del metrics["test"]
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    page = build_report(run_copy).read_text()
    assert "No figures in this run." in page and "data:image/png" not in page
    assert "No history.csv in this run." in page
    assert "No model.json in this run." in page and "2 -&gt; 8 -&gt; 2" in page
    assert '<h3 id="metrics-train">' in page and 'id="metrics-test"' not in page
    assert kv(section(page, '<h3 id="metrics-train">'))["accuracy"] == pct(metrics["train"]["accuracy"])


@pytest.mark.parametrize("missing", ["metrics.json", "config.json"])
def test_a_missing_required_file_is_a_one_line_error_naming_it(run_copy, missing):
    (run_copy / missing).unlink()
    with pytest.raises(NeuralabError, match=re.escape(missing)) as info:
        build_report(run_copy)
    assert "\n" not in str(info.value)
    assert not (run_copy / "report.html").exists()


def test_a_missing_run_directory_is_an_error(tmp_path):
    with pytest.raises(NeuralabError, match="does not exist"):
        build_report(tmp_path / "nowhere")


def test_new_and_explain_figures_are_placed_by_kind(run_copy):
    figures = run_copy / "figures"
    (figures / "explain").mkdir()
    for name, colour in (("explain_saliency.png", "viridis"), ("explain/occlusion.png", "magma"),
                         ("roc_test.png", "Blues"), ("pr_test.png", "Greens"),
                         ("weights.png", "Reds"), ("activations.png", "Purples")):
        small_png(figures / name, colour)
    page = build_report(run_copy).read_text()
    for png in figures.rglob("*.png"):
        assert b64(png) in page, png.name
    explain = page.index('<h2 id="explain">Explain</h2>')
    assert page.index('<h2 id="figures">') < explain
    for name in ("explain_saliency.png", "explain/occlusion.png"):
        assert page.index(b64(figures / name)) > explain, name
    main, extra = list_figures(run_copy)
    assert [f.name for f in extra] == ["explain/occlusion.png", "explain_saliency.png"]
    names = [f.name for f in main]
    assert set(names) == {p.relative_to(figures).as_posix() for p in figures.glob("*.png")} - {
        "explain_saliency.png"}

    def kind(name):
        for rank, prefix in enumerate(("loss", "boundary", "confusion", "roc", "pr")):
            if name == f"{prefix}.png" or name.startswith(f"{prefix}_"):
                return rank
        return 5

    ranks = [kind(n) for n in names]
    assert ranks == sorted(ranks)
    assert [n for n in names if kind(n) == 5] == ["activations.png", "weights.png"]
    confusion = [n for n in names if kind(n) == 2]
    assert confusion.index("confusion_train.png") < confusion.index("confusion_test.png")
    # within a kind, split by split: train (and its variants) before test
    splits = [n.removeprefix("confusion_").split("_")[0].removesuffix(".png") for n in confusion]
    assert splits == sorted(splits, key=["train", "val", "test"].index)
    where = [page.index(b64(figures / name)) for name in names]
    assert where == sorted(where) and max(where) < explain
    assert "Saliency" in page[explain:] and "ROC curve (test)" in page


def test_no_explain_heading_without_explain_figures(report):
    _, page = report
    assert 'id="explain"' not in page


def test_null_and_nan_metrics_show_as_a_dash_and_extra_keys_appear(run_copy):
    metrics = read(run_copy, "metrics.json")
    metrics["train"]["roc_auc"] = None
    metrics["train"]["log_loss"] = float("nan")  # json writes NaN; Python reads it back
    metrics["train"]["average_precision_macro"] = 0.876543
    metrics["train"]["brier_score"] = 0.123456
    metrics["train"]["per_class"]["0"]["precision"] = None
    metrics["test"]["operating_point"] = {"threshold": 0.35, "fpr": 0.125, "tpr": None}
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    page = build_report(run_copy).read_text()
    train = section(page, '<h3 id="metrics-train">')
    scalars = kv(train)
    assert scalars["roc_auc"] == DASH and scalars["log_loss"] == DASH
    # binary: the one average-precision line holds the first of its keys the split has
    assert scalars["average_precision"] == "0.8765"
    assert scalars["brier_score"] == "0.1235"
    assert "nan" not in train.lower().replace("nanosecond", "")
    per_class = next(t for t in tables(train) if t["rows"][0][0] == "class")
    assert per_class["rows"][1][1] == DASH
    # the averages leave the missing precision out
    assert per_class["foot"][0][1] == f"{metrics['train']['per_class']['1']['precision']:.3f}"
    test = section(page, '<h3 id="metrics-test">')
    op = section(test, "<h4>Operating point</h4>")
    assert kv(op) == {"threshold": "0.3500", "fpr": "0.1250", "tpr": DASH}


def test_text_from_the_run_is_escaped(run_copy):
    config = read(run_copy, "config.json")
    config["name"] = "<script>alert(1)</script>"
    config["data"]["source"] = 'a & b "quoted"'
    (run_copy / "config.json").write_text(json.dumps(config))
    page = build_report(run_copy).read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.search(r"a &amp; b &(quot|#34);quoted&(quot|#34);", page)
    assert 'a & b "quoted"' not in page


# --- what a practitioner reads first -------------------------------------------------------

class _Titles(HTMLParser):
    """The text of every element that carries a title (tooltip), with the title."""

    def __init__(self):
        super().__init__()
        self.found, self._open = {}, []

    def handle_starttag(self, tag, attrs):
        title = dict(attrs).get("title")
        self._open.append((tag, title, []))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, title, text = self._open.pop()
            if title:
                self.found.setdefault("".join(text).strip(), title)
            if self._open:
                self._open[-1][2].extend(text)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1][2].append(data)


def titles(page: str) -> dict[str, str]:
    parser = _Titles()
    parser.feed(page[page.index("<body>"):])
    return parser.found


def summary_block(page: str) -> str:
    start = page.index('<section class="summary"')
    return page[start:page.index("</section>", start)]


def test_summary_at_the_top_names_data_model_and_every_splits_headline(run_dir, report):
    _, page = report
    config, metrics = read(run_dir, "config.json"), read(run_dir, "metrics.json")
    block = summary_block(page)
    assert page.index(block) < page.index("<details")  # before every folding section
    facts = dict(re.findall(r"<dt[^>]*>(.*?)</dt><dd>(.*?)</dd>", block))
    data = config["data"]
    assert facts["data"] == f"moons, {data['n_samples']} samples × {data['n_features']} features"
    assert facts["source"] == data["source"]
    assert facts["splits"] == "train 150 × 2 · test 50 × 2"
    assert facts["classes"] == "2: 0, 1"
    assert facts["network"] == "2 -&gt; 8 -&gt; 2 (42 parameters)"
    assert facts["activation"] == "relu" and facts["optimiser"] == "sgd"
    assert facts["lr"] == "0.5" and facts["reg"] == f"{config['settings']['reg']:g}"
    assert facts["steps"] == "200 (200 iterations, full batch)"
    headline = next(t for t in tables(block) if t["class"] == "headline")["rows"]
    assert headline[0] == ["split", "n_samples", "accuracy", "loss", "ROC AUC"]
    assert headline[1:] == [[split, str(m["n_samples"]), pct(m["accuracy"]), f"{m['loss']:.4f}",
                             f"{m['roc_auc']:.4f}"] for split, m in metrics.items()]


def test_a_binary_problem_has_one_roc_auc_line(run_dir, report):
    _, page = report
    metrics = read(run_dir, "metrics.json")
    for split, m in metrics.items():
        assert m["roc_auc"] == m["roc_auc_macro"] == m["roc_auc_micro"]  # what the page folds
        scalars = kv(section(page, f'<h3 id="metrics-{split}">'))
        assert [k for k in scalars if "roc" in k] == ["roc_auc"]
        assert scalars["roc_auc"] == f"{m['roc_auc']:.4f}"
        assert [k for k in scalars if "average_precision" in k] == ["average_precision"]


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    """Three classes of unequal size and a weak model: one class is never predicted."""
    out = tmp_path_factory.mktemp("report-wine") / "run"
    with pytest.warns(UserWarning, match="undefined"):
        run_training(load("wine", seed=0),
                     TrainSettings(hidden=[8], iterations=100, lr=0.1, test_fraction=0.3),
                     out=out, echo=None, progress=False, name="wine-run")
    return out, build_report(out).read_text(encoding="utf-8")


def test_per_class_averages_match_scikit_learns_classification_report(wine_run):
    from sklearn.metrics import classification_report

    run, page = wine_run
    metrics = read(run, "metrics.json")
    with open(run / "predictions.csv") as fh:
        predictions = list(csv.DictReader(fh))
    weights_matter = False
    for split, m in metrics.items():
        rows = [r for r in predictions if r["split"] == split]
        y_true, y_pred = [int(r["y_true"]) for r in rows], [int(r["y_pred"]) for r in rows]
        expected = classification_report(y_true, y_pred, output_dict=True, zero_division=np.nan)
        table = next(t for t in tables(section(page, f'<h3 id="metrics-{split}">'))
                     if t["rows"][0][0] == "class")
        head = table["rows"][0]
        foot = {row[0]: row for row in table["foot"]}
        assert list(foot) == ["macro avg", "weighted avg"]
        for label in foot:
            for col, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
                assert foot[label][head.index(col)] == f"{expected[label][key]:.3f}", (split, label, col)
            assert foot[label][head.index("support")] == str(len(rows))
        weights_matter |= foot["macro avg"][1:4] != foot["weighted avg"][1:4]
    assert weights_matter  # the supports differ, so the two averages must too


def test_several_classes_keep_the_micro_roc_auc_without_repeating_the_macro(wine_run):
    run, page = wine_run
    m = read(run, "metrics.json")["test"]
    scalars = kv(section(page, '<h3 id="metrics-test">'))
    assert scalars["roc_auc"] == f"{m['roc_auc']:.4f}"  # the one-vs-rest macro average
    assert scalars["roc_auc_micro"] == f"{m['roc_auc_micro']:.4f}"
    assert "roc_auc_macro" not in scalars
    assert scalars["average_precision_macro"] == f"{m['average_precision_macro']:.4f}"


def test_every_metric_explains_itself_on_hover(report):
    _, page = report
    found = titles(page)
    for name in ("accuracy", "loss", "precision", "recall", "f1", "fpr", "tpr", "tnr", "roc_auc",
                 "ROC AUC", "average_precision", "support", "macro avg", "weighted avg"):
        assert len(found.get(name, "")) > 20, name
    assert "TP / (TP + FP)" in found["precision"] and "FP / (FP + TN)" in found["fpr"]


def test_sections_fold_and_the_important_ones_start_open(report):
    _, page = report
    state = dict((name, bool(is_open)) for is_open, name in re.findall(
        r'<details class="section"( open)?>\s*<summary><h2 id="([a-z]+)">', page))
    # what the summary already says starts folded
    assert state == {"settings": False, "data": False, "model": False, "training": True,
                     "metrics": True, "figures": True}
    assert page.count('<details class="split" open>') == 2  # each split folds on its own


def test_every_figure_opens_full_size_on_click(run_dir, report):
    _, page = report
    pngs = list((run_dir / "figures").glob("*.png"))
    zooms = re.findall(r'<label class="zoom"[^>]*><input type="checkbox"><img src="data:image/png',
                       page)
    assert len(zooms) == len(pngs)
    assert "input:checked + img { position: fixed" in page  # the CSS that enlarges it


def polylines(group: str) -> dict[str, list[tuple[float, float]]]:
    return {name: [tuple(map(float, p.split(","))) for p in points.split()]
            for points, name in re.findall(r'<polyline points="([^"]+)"[^>]*><title>([^<]+)</title>',
                                           group)}


def test_the_training_curve_is_inline_svg_with_a_log_step_axis(run_dir, report):
    _, page = report
    with open(run_dir / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    part = section(page, '<h2 id="training">')
    assert 'type="radio" name="xscale" id="xscale-lin" checked' in part
    assert 'type="radio" name="xscale" id="xscale-log"' in part
    assert "#xscale-log:checked ~ .panels .x-lin" in page  # the toggle hides the other axis
    svg = part[part.index("<svg"):part.index("</svg>")]
    lin = polylines(svg[svg.index('<g class="x-lin">'):svg.index('<g class="x-log">')])
    log = polylines(svg[svg.index('<g class="x-log">'):])
    assert set(lin) == set(log) == {"loss", "val_loss"}
    steps = [int(r["step"]) for r in rows]
    for points in (lin["loss"], log["loss"]):
        assert len(points) == len(rows)
        xs = [x for x, _ in points]
        assert xs == sorted(xs)
    # the loss falls: the line goes down the page (SVG y grows downwards)
    assert lin["loss"][-1][1] > lin["loss"][0][1]

    def share_of_width(points, upto):
        xs = [x for x, _ in points]
        return (xs[steps.index(upto)] - xs[0]) / (xs[-1] - xs[0])

    assert share_of_width(lin["loss"], 20) == pytest.approx(20 / steps[-1], abs=0.01)
    assert share_of_width(log["loss"], 20) > 0.5  # the first steps fill most of the log axis
    labels = re.findall(r'<text class="xlab"[^>]*>([^<]+)</text>', svg[svg.index('"x-log"'):])
    assert labels[:4] == ["0", "1", "10", "100"]


def test_a_hostile_class_or_file_name_appears_as_text(run_copy):
    evil = '<script>alert("x")</script>'
    metrics = read(run_copy, "metrics.json")
    for m in metrics.values():
        m["per_class"] = {evil if k == "0" else k: v for k, v in m["per_class"].items()}
    (run_copy / "metrics.json").write_text(json.dumps(metrics))
    for name in ("config.json", "model.json"):
        obj = read(run_copy, name)
        target = obj["data"] if name == "config.json" else obj
        target["classes"] = [evil, "1"]
        (run_copy / name).write_text(json.dumps(obj))
    small_png(run_copy / "figures" / "<img src=x onerror=alert(1)>.png", "Reds")
    page = build_report(run_copy).read_text()
    assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page and "&lt;img src=x onerror=alert(1)&gt;.png" in page
    train = section(page, '<h3 id="metrics-train">')
    per_class = next(t for t in tables(train) if t["rows"][0][0] == "class")["rows"]
    assert per_class[1][0] == evil  # the parser reads back the very name, as text
    cm = next(t for t in tables(train) if t["class"] == "cm")["rows"]
    assert cm[0][1] == evil and cm[1][0] == evil


def test_the_page_is_one_self_contained_file(run_copy):
    (run_copy / "explain.json").write_text(json.dumps({"input": {"source": "row 0", "x": [0.1, 0.2]}}))
    page = build_report(run_copy).read_text()

    class Refs(HTMLParser):
        def __init__(self):
            super().__init__()
            self.refs = []

        def handle_starttag(self, tag, attrs):
            self.refs += [(tag, k, v) for k, v in attrs if k in ("src", "href", "srcset", "data")]

    parser = Refs()
    parser.feed(page)
    assert parser.refs
    for tag, attr, value in parser.refs:
        assert value.startswith(("data:image/png;base64,", "#")), (tag, attr, value[:40])
    assert "http://" not in page and "https://" not in page
    for external in ("<link", "<script", "<iframe", "@import", "url("):
        assert external not in page


def test_explain_json_and_evaluations_get_their_sections(run_copy):
    explain = {
        "input": {"source": "row 3 of the test split", "x": [0.5, -1.25]},
        "predicted": "1", "target": "1", "probabilities": {"0": 0.25, "1": 0.75},
        "feature_names": ["x1", "<b>x2</b>"],
        "attributions": {"gradient": [0.1, -2.0], "integrated gradients": [0.05, -0.6]},
        "integrated_gradients_completeness_gap": 0.001,
        "flip_step": {"found": True, "distance": 0.3, "new_class": "0"},
        "partial_dependence_feature": "<b>x2</b>",
    }
    (run_copy / "explain.json").write_text(json.dumps(explain))
    folder = run_copy / "evaluations" / "20260101-120000-own-splits"
    folder.mkdir(parents=True)
    shutil.copy(run_copy / "metrics.json", folder / "metrics.json")
    (run_copy / "evaluations" / "broken").mkdir()
    page = build_report(run_copy).read_text()
    part = section(page, '<h2 id="explain">')
    facts = dict(re.findall(r"<dt[^>]*>(.*?)</dt><dd>(.*?)</dd>", part))
    assert facts["input"] == "row 3 of the test split" and facts["predicted"] == "1"
    assert facts["probabilities"] == "0: 25.0 %, 1: 75.0 %"
    assert facts["smallest flipping step"] == "to 0 at distance 0.3000"
    assert "<b>" not in part
    rows = next(t for t in tables(part) if t["rows"][0][0] == "feature")["rows"]
    assert rows[0] == ["feature", "x", "gradient", "integrated gradients"]
    assert rows[1] == ["<b>x2</b>", "-1.2500", "-2.0000", "-0.6000"]  # largest |IG| first
    part = section(page, '<h2 id="evaluations">')
    metrics = read(run_copy, "metrics.json")
    table = tables(part)[0]["rows"]
    assert [r[:2] for r in table[1:]] == [[f"evaluations/{folder.name}", s] for s in metrics]
    assert [r[3] for r in table[1:]] == [pct(m["accuracy"]) for m in metrics.values()]
    assert "evaluations/broken: No metrics.json in this run." in part


# --- the demo's comparison page -----------------------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_run, tmp_path_factory):
    """A copy of the session's demo folder, with its comparison page built anew."""
    out = shutil.copytree(demo_run[1], tmp_path_factory.mktemp("report-demo") / "demo")
    path = build_comparison_report(out, ["linear", "mlp"])
    return out, path, path.read_text(encoding="utf-8")


@pytest.mark.slow  # the demo's two runs
def test_comparison_page_links_each_run_report(demo):
    out, path, page = demo
    assert path == out / "report.html"
    for run in ("linear", "mlp"):
        assert f'href="{run}/report.html"' in page
        (out / run / "report.html").unlink()
    build_comparison_report(out, ["linear", "mlp"])
    for run in ("linear", "mlp"):
        assert (out / run / "report.html").is_file()  # the links lead somewhere
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert not [r for r in refs if re.match(r"(https?:)?//", r, flags=re.I)]


@pytest.mark.slow  # the demo's two runs
def test_comparison_table_holds_each_runs_numbers(demo):
    out, _, page = demo
    table = tables(page)[0]["rows"]
    assert table[0][:8] == ["run", "model", "sizes", "iterations", "final loss", "train accuracy",
                            "test accuracy", "train time"]
    rows = {r[0]: r for r in table[1:]}
    assert list(rows) == ["linear", "mlp"]
    for run, sizes, steps in (("linear", "2 -> 3", "200"), ("mlp", "2 -> 100 -> 3", "10,000")):
        metrics = read(out / run, "metrics.json")
        config = read(out / run, "config.json")
        row = rows[run]
        assert row[2] == sizes and row[3] == steps
        assert row[4] == f"{metrics['train']['loss']:.4f}"
        assert row[5] == pct(metrics["train"]["accuracy"])
        assert row[6] == pct(metrics["test"]["accuracy"])
        assert row[7].endswith(" s") and not math.isnan(config["train_seconds"])


@pytest.mark.slow  # the demo's two runs
def test_comparison_page_embeds_the_comparison_and_each_boundary(demo):
    out, _, page = demo
    assert b64(out / "comparison.png") in page
    where = [page.index(b64(out / run / "figures" / "boundary.png")) for run in ("linear", "mlp")]
    assert where == sorted(where)


@pytest.mark.slow  # the demo's two runs
def test_comparison_of_a_missing_run_is_an_error(demo):
    out, _, _ = demo
    with pytest.raises(NeuralabError, match="nothere"):
        build_comparison_report(out, ["linear", "nothere"])
