"""Explaining a regression run: attributions of its one output, partial dependence, layers.

The network's one output u is the standardised prediction; the prediction is
``y = u * target_scale + target_mean``, so every attribution of u times
``target_scale`` is an attribution in the target's units (the integrated
gradients then add up to ``y(x) - y(baseline)``). What speaks of classes does not
apply and is left out, each with a line in explain.json's ``not_applicable``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab.explain.common import as_inputs, explained_input, feature_index

#: what classification's explanation holds that a regression model has not, and why
NOT_APPLICABLE = {
    "flip_step": "the smallest step that changes the predicted class: a regression model has "
                 "no classes; the partial dependence shows how the prediction moves instead",
    "probabilities": "a regression model predicts a number, not class probabilities",
    "probability_surface": "there is no class probability to draw over the plane",
    "hidden_unit_maps": "drawn for 2-D classification data only",
    "class_weight_images": "there are no classes to draw the weights of",
    "linear_weights": "listed per class for classifiers only",
}


@dataclass
class RegressionExplanation:
    """What :func:`explain_regression_run` found and wrote."""

    input_source: str
    x: np.ndarray
    prediction: float
    target: str
    attributions: dict[str, np.ndarray]
    ig_gap: float
    partial_dependence_feature: str
    feature_names: list[str]
    layers: list[dict] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    task: str = "regression"

    def to_dict(self) -> dict:
        return {
            "task": "regression",
            "input": {"source": self.input_source, "x": self.x.tolist()},
            "predicted": f"{self.prediction:.6g} ({self.target})",
            "prediction": self.prediction,
            "attributions": {k: v.tolist() for k, v in self.attributions.items()},
            "attribution_units": f"{self.target}, the target's own units",
            "feature_names": self.feature_names,
            "integrated_gradients_completeness_gap": self.ig_gap,
            "partial_dependence_feature": self.partial_dependence_feature,
            "layers": [{k: v for k, v in row.items() if not k.endswith("histogram")}
                       for row in self.layers],
            "not_applicable": NOT_APPLICABLE,
            "figures": [str(p.name) for p in self.figures],
        }


def partial_dependence(explainer, target, X: np.ndarray, feature: int, *, points: int = 30):
    """(grid, mean prediction in the target's units) with ``feature`` set to each grid value.

    The grid runs over the feature's 2nd to 98th percentile in the data ``X`` (raw units).
    """
    lo, hi = np.percentile(X[:, feature], [2, 98]) if len(X) else (0.0, 1.0)
    grid = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    means = np.empty(len(grid))
    for i, v in enumerate(grid):
        Xv = np.array(X, dtype=np.float64)
        Xv[:, feature] = v
        means[i] = float(np.mean(target.inverse(explainer.outputs(Xv, 0))))
    return grid, means


def partial_dependence_figure(grid, means, feature_name: str, target_name: str):
    """The mean prediction against one feature."""
    from neuralab import plots

    fig = plots.new_figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(grid, means, color=plots.CLASS_COLOURS[0], lw=1.8, marker="." if len(grid) < 3 else None)
    ax.set_xlabel(str(feature_name))
    ax.set_ylabel(f"mean predicted {target_name}")
    ax.grid(alpha=0.3)
    ax.set_title(f"partial dependence on {feature_name}")
    fig.tight_layout()
    return fig


def explain_regression_run(run_dir: str | Path, *, index: int | None = None, point=None,
                           split: str | None = None, feature: str | None = None,
                           steps: int = 128) -> RegressionExplanation:
    """Explain a regression run: figures ``figures/explain_*.png``, ``explain.json``, the report.

    The explained input is row ``index`` of a split (default: test, else train; row 0)
    or ``point`` (raw feature values); ``feature`` picks the partial-dependence
    feature (default: the largest integrated-gradients attribution).
    """
    from neuralab.data.target import TargetScaler
    from neuralab.explain.attributions import Explainer
    from neuralab.runs import load_run_data, read_model
    from neuralab.runs.predictor import parse_point
    from neuralab.runs.store import HISTORY, read_history

    run_dir = Path(run_dir)
    explainer = Explainer.from_run(run_dir)
    _, meta, _ = read_model(run_dir)
    target, name = TargetScaler.from_meta(meta), meta.get("target") or "y"
    features = explainer.feature_names
    point = None if point is None else as_inputs(explainer, parse_point(point, explainer.raw_names))
    if feature is not None:
        feature_index(feature, features, None)
    history = read_history(run_dir / HISTORY)
    splits = {k: dataclasses.replace(sp, X=as_inputs(explainer, sp.X))
              for k, sp in load_run_data(run_dir).splits().items()}
    x, where = explained_input(splits, index=index, point=point, split=split,
                               truth=lambda y: f"true value {float(y):.6g}")
    prediction = float(target.inverse(explainer.outputs(x, 0))[0])
    if not np.isfinite(prediction):
        raise_not_finite(where)
    ig = explainer.integrated_gradients(x, 0, steps=steps, rtol=0.01)
    s = target.scale  # attributions of u, times target_scale: the target's units
    attributions = {"gradient": s * explainer.input_gradient(x, 0)[0],
                    "gradient x input": s * explainer.gradient_x_input(x, 0)[0],
                    "integrated gradients": s * ig.attributions[0]}
    feat = feature_index(feature, features, ig.attributions[0])
    return _write(run_dir, explainer, target, name, x, where, prediction, attributions,
                  float(ig.gap[0]) if np.isfinite(ig.gap[0]) else float("nan"), feat,
                  splits["train"], history)


def sample_rows(X, n: int) -> np.ndarray:
    """X, or n of its rows drawn without replacement (seed 0) when it has more."""
    return X if len(X) <= n else X[np.random.default_rng(0).choice(len(X), n, replace=False)]


def raise_not_finite(where: str) -> None:
    from neuralab import NeuralabError

    raise NeuralabError(f"the model's prediction for {where} is not finite: its values are too "
                        "large for the model's weights")


def _write(run_dir: Path, explainer, target, name: str, x, where: str, prediction: float,
           attributions: dict, gap: float, feat: int, train, history) -> RegressionExplanation:
    """Draw the figures, write explain.json and the report, as one new state of the run."""
    from neuralab import plots
    from neuralab.explain import inspection as ins
    from neuralab.explain.figures import attribution_figure
    from neuralab.fileio import write_json
    from neuralab.report import build_report
    from neuralab.runs import NewState

    features = explainer.feature_names
    written: list[Path] = []
    with NewState(run_dir, mode="amend") as state:
        def save(fig, stem: str) -> None:
            written.append(plots.save_figure(fig, state.folder / "figures" / f"explain_{stem}.png"))

        save(attribution_figure(x[0], attributions, features, None,
                                f"why {prediction:.4g}? {where}"), "attributions")
        grid, means = partial_dependence(explainer, target,
                                         np.asarray(sample_rows(train.X, 2000), dtype=np.float64), feat)
        save(partial_dependence_figure(grid, means, features[feat], name), "partial_dependence")
        sample = np.asarray(sample_rows(train.X, 5000), dtype=np.float64)
        layers = ins.layer_statistics(explainer.model, explainer.scaler.transform(sample))
        save(ins.layer_statistics_figure(layers), "layers")
        if history and any(k.startswith("grad_norm_W") for k in history[0]):
            save(ins.gradient_norm_figure(history, title="gradient norms during training"),
                 "gradient_norms")
        result = RegressionExplanation(
            input_source=where, x=x[0], prediction=prediction, target=name,
            attributions=attributions, ig_gap=gap, partial_dependence_feature=features[feat],
            feature_names=features, layers=layers, figures=written)
        write_json(state.folder / "explain.json", result.to_dict())
        build_report(state.folder)
        state.commit()
    result.figures = [run_dir / "figures" / p.name for p in written]
    return result
