"""Interpretability and explainability: why a model gives its answer, and how it would change.

- :mod:`neuralab.explain.attributions`: input gradients, gradient x input and
  integrated gradients, the smallest step that flips the class, partial
  dependence, the probability surface (engine, with torch autograd twins);
- :mod:`neuralab.explain.inspection`: weights, layer statistics, dead units,
  gradient norms over training, hidden-unit maps and their figures;
- :mod:`neuralab.explain.backprop`: one iteration of the backward pass, every
  intermediate in the slides' names, checked against torch autograd;
- :func:`explain_run`: all of it for a run directory, written as
  ``figures/explain_*.png`` and ``explain.json`` and shown in its report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError


@dataclass
class RunExplanation:
    """What :func:`explain_run` found and wrote."""

    input_source: str
    x: np.ndarray
    predicted: str
    target: str
    probabilities: dict[str, float]
    attributions: dict[str, np.ndarray]
    ig_gap: float
    flip: dict
    partial_dependence_feature: str | None
    weights: list[dict] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "input": {"source": self.input_source, "x": self.x.tolist()},
            "predicted": self.predicted,
            "target": self.target,
            "probabilities": self.probabilities,
            "attributions": {k: v.tolist() for k, v in self.attributions.items()},
            "feature_names": self.feature_names,
            "integrated_gradients_completeness_gap": self.ig_gap,
            "flip_step": self.flip,
            "partial_dependence_feature": self.partial_dependence_feature,
            "linear_weights": self.weights,
            "layers": [{k: v for k, v in row.items() if not k.endswith("histogram")}
                       for row in self.layers],
            "figures": [str(p.name) for p in self.figures],
        }


def _attribution_figure(x, attributions: dict, feature_names, image_shape, title: str):
    from neuralab.plots import _figure

    names = list(attributions)
    if image_shape is not None:
        fig = _figure(figsize=(3.2 * (len(names) + 1), 3.4))
        ax = fig.add_subplot(1, len(names) + 1, 1)
        ax.imshow(np.asarray(x).reshape(image_shape), cmap="gray_r")
        ax.set_title("input")
        ax.axis("off")
        for i, name in enumerate(names, start=2):
            a = np.asarray(attributions[name]).reshape(image_shape)
            lim = float(np.max(np.abs(a))) or 1.0
            ax = fig.add_subplot(1, len(names) + 1, i)
            im = ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(name)
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046)
    else:
        d = len(feature_names)
        shown = min(d, 20)
        order = np.argsort(-np.abs(attributions[names[-1]]))[:shown][::-1]
        fig = _figure(figsize=(4.2 * len(names), 1.2 + 0.32 * shown))
        for i, name in enumerate(names, start=1):
            ax = fig.add_subplot(1, len(names), i)
            vals = np.asarray(attributions[name])[order]
            ax.barh(range(shown), vals, color=np.where(vals >= 0, "#d62728", "#1f77b4"))
            ax.set_yticks(range(shown), [feature_names[j] for j in order] if i == 1 else [])
            ax.axvline(0, color="k", lw=0.6)
            ax.set_title(name)
        if shown < d:
            title += f" (the {shown} largest of {d} features)"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def explain_run(run_dir: str | Path, *, index: int | None = None, point=None,
                target: str | None = None, split: str | None = None,
                feature: str | None = None, steps: int = 128) -> RunExplanation:
    """Explain a run's model: figures ``figures/explain_*.png``, ``explain.json``, the report.

    The explained input is row ``index`` of a split (default: the test split, else
    train; row 0) or ``point`` (raw feature values). ``target`` is the class to
    explain (default: the predicted one). ``feature`` picks the partial-dependence
    feature (default: the one with the largest integrated-gradients attribution).
    """
    from neuralab import plots
    from neuralab.explain import inspection as ins
    from neuralab.runs import load_run_data
    from neuralab.explain.attributions import Explainer
    from neuralab.report import build_report
    from neuralab.runs import write_json

    run_dir = Path(run_dir)
    explainer = Explainer.from_run(run_dir)
    model, scaler = explainer.model, explainer.scaler
    classes, features = explainer.classes, explainer.feature_names
    source = load_run_data(run_dir)
    data, splits = source.data, source.splits()
    image_shape = getattr(data, "image_shape", None)
    train = splits["train"]

    if point is not None:
        x = np.asarray(point, dtype=np.float64).reshape(1, -1)
        if x.shape[1] != model.n_inputs:
            raise NeuralabError(f"--point needs {model.n_inputs} numbers ({', '.join(features)}), "
                                f"got {x.shape[1]}")
        source = "the given point"
    else:
        key = split or ("test" if "test" in splits else "train")
        if key not in splits:
            raise NeuralabError(f"split must be one of {', '.join(splits)}; got {key!r}")
        rows = splits[key]
        i = 0 if index is None else index
        if not (isinstance(i, (int, np.integer)) and 0 <= i < len(rows.y)):
            raise NeuralabError(f"--index must lie in 0..{len(rows.y) - 1} for the {key} split, got {index!r}")
        x = np.asarray(rows.X[i:i + 1], dtype=np.float64)
        source = f"row {i} of the {key} split (source row {int(rows.index[i])}, label {classes[int(rows.y[i])]})"
    probs = explainer.predict_proba(x)[0]
    pred = int(np.argmax(probs))
    if target is None:
        t = pred
    elif target in classes:
        t = classes.index(target)
    else:
        raise NeuralabError(f"--class {target!r} is not a class of this model; classes are {classes}")

    ig = explainer.integrated_gradients(x, t, steps=steps, rtol=0.01)
    attributions = {
        "gradient": explainer.saliency(x, t, signed=True)[0],
        "gradient x input": explainer.gradient_x_input(x, t)[0],
        "integrated gradients": ig.attributions[0],
    }
    flip = explainer.flip_step(x[0])
    flip_info = {
        "found": flip.found,
        "distance": flip.distance,
        "new_class": None if flip.new_class is None else classes[flip.new_class],
        "point": None if flip.point is None else np.asarray(flip.point).tolist(),
        "gradient_norm": flip.gradient_norm,
    }
    fig_dir = run_dir / "figures"
    written: list[Path] = []

    def save(fig, name: str) -> None:
        written.append(plots.save_figure(fig, fig_dir / f"explain_{name}.png"))

    save(_attribution_figure(x[0], attributions, features, image_shape,
                             f"why {classes[t]}? {source}"), "attributions")
    if feature is None:
        feat = int(np.argmax(np.abs(ig.attributions[0])))
    elif feature in features:
        feat = features.index(feature)
    else:
        raise NeuralabError(f"--feature {feature!r} is not a feature of this model; "
                            f"features are {features[:10]}{' ...' if len(features) > 10 else ''}")
    pd_X = train.X if len(train.y) <= 2000 else train.X[
        np.random.default_rng(0).choice(len(train.y), 2000, replace=False)]
    pd = explainer.partial_dependence(np.asarray(pd_X, dtype=np.float64), feat)
    save(ins.partial_dependence_figure(pd.grid, pd.probs, features[feat], classes), "partial_dependence")

    sample = train.X if len(train.y) <= 5000 else train.X[
        np.random.default_rng(0).choice(len(train.y), 5000, replace=False)]
    layers = ins.layer_statistics(model, scaler.transform(np.asarray(sample, dtype=np.float64)))
    save(ins.layer_statistics_figure(layers), "layers")
    history = run_dir / "history.csv"
    if history.exists():
        import csv

        with history.open(newline="") as fh:
            rows_h = list(csv.DictReader(fh))
        if rows_h and any(k.startswith("grad_norm_W") for k in rows_h[0]):
            save(ins.gradient_norm_figure(rows_h, title="gradient norms during training"), "gradient_norms")
    weights = []
    if model.depth == 1:
        lw = ins.linear_weights(model, scaler, features, classes)
        weights = lw.top(min(50, len(lw.rows)))
    if image_shape is not None:
        save(ins.class_weight_images_figure(model, image_shape, classes), "weights")
    if model.n_inputs == 2:
        Xt = np.asarray(train.X, dtype=np.float64)
        save(ins.probability_surface_figure(model, scaler, Xt, train.y, classes,
                                            title="probability of the predicted class and its gradient"),
             "surface")
        if model.depth > 1:
            save(ins.hidden_unit_maps_figure(model, scaler, Xt, train.y, "first"), "hidden_first")
            if model.depth > 2:
                save(ins.hidden_unit_maps_figure(model, scaler, Xt, train.y, "last"), "hidden_last")
    result = RunExplanation(
        input_source=source, x=x[0], predicted=classes[pred], target=classes[t],
        probabilities={c: float(p) for c, p in zip(classes, probs)}, attributions=attributions,
        ig_gap=float(ig.gap[0]) if np.isfinite(ig.gap[0]) else float("nan"), flip=flip_info,
        partial_dependence_feature=features[feat], weights=weights, layers=layers,
        figures=written, feature_names=features)
    write_json(run_dir / "explain.json", result.to_dict())
    build_report(run_dir)
    return result
