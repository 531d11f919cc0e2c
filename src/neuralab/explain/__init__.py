"""Interpretability and explainability: why a model gives its answer, and how it would change.

- :mod:`neuralab.explain.attributions`: :class:`~neuralab.explain.attributions.Explainer`,
  input gradients, gradient x input and integrated gradients (the path integrals
  in :mod:`neuralab.explain.gradients`); its what-if half,
  :mod:`neuralab.explain.whatif`: the smallest step that flips the class,
  partial dependence, the probability surface;
- :mod:`neuralab.explain.inspection`: weights (:mod:`~neuralab.explain.weights`),
  layer statistics and dead units (:mod:`~neuralab.explain.layers`), gradient
  norms over training (:mod:`~neuralab.explain.gradient_norms`), hidden-unit maps
  and the probability surface (:mod:`~neuralab.explain.plane`), and their
  figures (:mod:`~neuralab.explain.figures`);
- :mod:`neuralab.explain.backprop`: one iteration of the backward pass, every
  intermediate in the slides' names, checked against torch autograd;
- :func:`explain_run`: all of it for a run directory, written as
  ``figures/explain_*.png`` and ``explain.json`` and shown in its report.

Everything here runs on the NumPy engine. Torch is imported only where the
engine is compared with autograd (:func:`~neuralab.explain.attributions.torch_input_gradient`,
:func:`~neuralab.explain.attributions.torch_integrated_gradients`,
:func:`~neuralab.explain.backprop.backprop_trace`), through
:mod:`neuralab.torch_backend.explain`, and only when they are called.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.explain.common import as_inputs, explained_input, feature_index


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


def _class_index(target: str | None, classes: list[str], predicted: int) -> int:
    """The index of the class to explain: ``target`` by name, or the predicted one."""
    if target is None:
        return predicted
    if target in classes:
        return classes.index(target)
    raise ArgumentError("class", f"class {target!r} is not a class of this model; classes are {classes}")


def _flip_info(flip, classes: list[str]) -> dict:
    """A :class:`~neuralab.explain.whatif.FlipStep` as explain.json keeps it."""
    return {
        "found": flip.found,
        "distance": flip.distance,
        "new_class": None if flip.new_class is None else classes[flip.new_class],
        "point": None if flip.point is None else np.asarray(flip.point).tolist(),
        "gradient_norm": flip.gradient_norm,
    }


def _sample(X, n: int) -> np.ndarray:
    """X, or n of its rows drawn without replacement (seed 0) when it has more."""
    return X if len(X) <= n else X[np.random.default_rng(0).choice(len(X), n, replace=False)]


def _model_figures(explainer, train, image_shape, history: list[dict], save) -> list[dict]:
    """The inspection figures (layers, gradient norms, weight images, the plane); the layer rows."""
    from neuralab.explain import inspection as ins

    model, scaler, classes = explainer.model, explainer.scaler, explainer.classes
    sample = _sample(train.X, 5000)
    layers = ins.layer_statistics(model, scaler.transform(np.asarray(sample, dtype=np.float64)))
    save(ins.layer_statistics_figure(layers), "layers")
    if history and any(k.startswith("grad_norm_W") for k in history[0]):
        save(ins.gradient_norm_figure(history, title="gradient norms during training"), "gradient_norms")
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
    return layers


def _linear_weight_rows(explainer) -> list[dict]:
    """A linear model's 50 largest weights, rows of :func:`~neuralab.explain.weights.linear_weights`.

    [] for a model with hidden layers, which has no weight per feature and class.
    """
    from neuralab.explain.weights import linear_weights

    if explainer.model.depth != 1:
        return []
    lw = linear_weights(explainer.model, explainer.scaler, explainer.feature_names, explainer.classes)
    return lw.top(min(50, len(lw.rows)))


def explain_run(run_dir: str | Path, *, index: int | None = None, point=None,
                target: str | None = None, split: str | None = None,
                feature: str | None = None, steps: int = 128) -> RunExplanation:
    """Explain a run's model: figures ``figures/explain_*.png``, ``explain.json``, the report.

    The explained input is row ``index`` of a split (default: the test split, else
    train; row 0) or ``point`` (raw feature values). ``target`` is the class to
    explain (default: the predicted one). ``feature`` picks the partial-dependence
    feature (default: the one with the largest integrated-gradients attribution).
    """
    from neuralab.explain.attributions import Explainer
    from neuralab.fileio import write_json
    from neuralab.report import build_report
    from neuralab.runs import NewState, load_run_data
    from neuralab.runs.predictor import parse_point
    from neuralab.runs.regression import run_task
    from neuralab.runs.store import HISTORY, read_history

    run_dir = Path(run_dir)
    if run_task(run_dir) == "regression":  # one numeric output: explain/regression.py
        if target is not None:
            raise ArgumentError("class", "class applies to classifiers; a regression model has "
                                         "one output, which is what is explained")
        from neuralab.explain.regression import explain_regression_run

        return explain_regression_run(run_dir, index=index, point=point, split=split,
                                      feature=feature, steps=steps)
    explainer = Explainer.from_run(run_dir)
    classes, features = explainer.classes, explainer.feature_names
    # every input is checked before anything is computed or written
    point = None if point is None else as_inputs(explainer, parse_point(point, explainer.raw_names))
    if feature is not None:
        feature_index(feature, features, None)
    history = read_history(run_dir / HISTORY)
    source = load_run_data(run_dir)
    splits = {k: dataclasses.replace(sp, X=as_inputs(explainer, sp.X))
              for k, sp in source.splits().items()}
    image_shape = getattr(source.data, "image_shape", None)
    train = splits["train"]
    x, where = explained_input(splits, index=index, point=point, split=split,
                               truth=lambda y: f"label {classes[int(y)]}")
    probs = explainer.predict_proba(x)[0]
    if not np.all(np.isfinite(probs)):
        raise NeuralabError(f"the model's probabilities for {where} are not finite: its values "
                            "are too large for the model's weights")
    pred = int(np.argmax(probs))
    t = _class_index(target, classes, pred)
    ig = explainer.integrated_gradients(x, t, steps=steps, rtol=0.01)
    attributions = {
        "gradient": explainer.saliency(x, t, signed=True)[0],
        "gradient x input": explainer.gradient_x_input(x, t)[0],
        "integrated gradients": ig.attributions[0],
    }
    flip = explainer.flip_step(x[0])
    written: list[Path] = []
    # the run gains its explanation as a whole: built beside it, swapped in, the run locked
    with NewState(run_dir, mode="amend") as state:
        result = _explain_into(state.folder, explainer, x, where, probs, pred, t, ig,
                               attributions, flip, feature, train, image_shape, history, written)
        write_json(state.folder / "explain.json", result.to_dict())
        build_report(state.folder)
        state.commit()
    result.figures = [run_dir / "figures" / p.name for p in written]
    return result


def _explain_into(folder: Path, explainer, x, where, probs, pred, t, ig, attributions, flip,
                  feature, train, image_shape, history, written: list[Path]) -> RunExplanation:
    """Draw the explanation's figures into ``folder``/figures; the explanation itself."""
    from neuralab import plots
    from neuralab.explain.figures import attribution_figure, partial_dependence_figure

    classes, features = explainer.classes, explainer.feature_names

    def save(fig, name: str) -> None:
        written.append(plots.save_figure(fig, folder / "figures" / f"explain_{name}.png"))

    save(attribution_figure(x[0], attributions, features, image_shape,
                            f"why {classes[t]}? {where}"), "attributions")
    feat = feature_index(feature, features, ig.attributions[0])
    pd = explainer.partial_dependence(np.asarray(_sample(train.X, 2000), dtype=np.float64), feat)
    save(partial_dependence_figure(pd.grid, pd.probs, features[feat], classes), "partial_dependence")
    layers = _model_figures(explainer, train, image_shape, history, save)
    result = RunExplanation(
        input_source=where, x=x[0], predicted=classes[pred], target=classes[t],
        probabilities={c: float(p) for c, p in zip(classes, probs)}, attributions=attributions,
        ig_gap=float(ig.gap[0]) if np.isfinite(ig.gap[0]) else float("nan"),
        flip=_flip_info(flip, classes), partial_dependence_feature=features[feat],
        weights=_linear_weight_rows(explainer), layers=layers, figures=written, feature_names=features)
    return result
