"""Monitoring a deployed model: has the data drifted from what it was trained on?

The lecture ends with monitoring: the world a model serves is not stationary, so
the inputs it sees drift away from its training data, and its predictions with
them. :func:`compare` holds new inputs against the run's training split (raw
features, rebuilt as the run made it) and reports, per feature, the two-sample
Kolmogorov-Smirnov test and the standardised mean shift, the share of inputs
outside the training range, and, on the model's side, the predicted class mix and
the mean confidence. No labels are needed: drift is visible before the accuracy
can be measured.

Drift is flagged (``report.drift``, with one reason per finding in
``report.reasons``) when any of these holds; each threshold is a keyword argument:

- a feature's KS p-value, Bonferroni-corrected over the d features
  (``min(1, d * p)``), is below ``alpha`` (default 0.01) *and* its KS statistic is at
  least ``min_ks`` (default 0.1). Both are needed: with many points, a tiny,
  harmless difference is significant; with few, a large one may not be.
- the share of new inputs with any feature outside the training range
  [min, max] exceeds ``max_out_of_range`` (default 0.05). Under no drift about
  ``2 d / (n_ref + 1)`` of the inputs fall outside by chance; raise the threshold
  for many features and a small training split.
- the total variation distance between the predicted class mix on the new and the
  reference inputs, ``0.5 * sum_k |q_k - p_k|``, exceeds ``max_class_tv``
  (default 0.1).
- the mean confidence (the largest class probability) falls by more than
  ``max_confidence_drop`` (default 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuralab import NeuralabError
from neuralab.data import Dataset
from neuralab.fileio import write_json
from neuralab.runs import Predictor
from neuralab.runs.reader import check_features, training_split


@dataclass
class FeatureDrift:
    """One feature, reference (the training split) against the new inputs.

    Attributes:
        name: the feature's name.
        ks_statistic: the two-sample Kolmogorov-Smirnov statistic, the largest gap
            between the two empirical distribution functions (0..1).
        p_value: its p-value (scipy.stats.ks_2samp).
        p_adjusted: ``min(1, d * p_value)``, Bonferroni over the d features.
        mean_shift: ``(mean_new - mean_ref) / std_ref``; for a constant reference
            feature 0 when the new mean equals it, else +-inf.
        out_of_range: the share of new values outside the reference [min, max].
        ref_mean, ref_std, new_mean, new_std, ref_min, ref_max: the summary statistics.
        drifted: the KS test flags it (p_adjusted < alpha and ks_statistic >= min_ks).
    """

    name: str
    ks_statistic: float
    p_value: float
    p_adjusted: float
    mean_shift: float
    out_of_range: float
    ref_mean: float
    ref_std: float
    new_mean: float
    new_std: float
    ref_min: float
    ref_max: float
    drifted: bool

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class DriftReport:
    """What :func:`compare` found; ``drift`` is True when any ``reasons`` were found.

    Attributes:
        run_dir: the run whose training split is the reference.
        n_reference, n_new: the number of rows compared.
        thresholds: alpha, min_ks, max_out_of_range, max_class_tv, max_confidence_drop.
        features: one :class:`FeatureDrift` per feature, in the model's order.
        out_of_range: share of new rows with any feature outside the training range.
        classes: the model's class names.
        class_mix_reference, class_mix_new: the share of each predicted class.
        class_mix_tv: their total variation distance.
        confidence_reference, confidence_new: mean largest class probability.
        confidence_drop: ``confidence_reference - confidence_new``.
        drift: whether anything was flagged.
        reasons: one line per finding, naming the feature where there is one.
        X_reference, X_new: the raw inputs compared (for figures; not in :meth:`to_dict`).
    """

    run_dir: Path
    n_reference: int
    n_new: int
    thresholds: dict
    features: list[FeatureDrift]
    out_of_range: float
    classes: list[str]
    class_mix_reference: dict[str, float]
    class_mix_new: dict[str, float]
    class_mix_tv: float
    confidence_reference: float
    confidence_new: float
    confidence_drop: float
    drift: bool
    reasons: list[str]
    X_reference: np.ndarray = field(repr=False)
    X_new: np.ndarray = field(repr=False)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features the KS test flags, most drifted first."""
        flagged = [f for f in self.features if f.drifted]
        return [f.name for f in sorted(flagged, key=lambda f: -f.ks_statistic)]

    def most_drifted(self, n: int = 8) -> list[FeatureDrift]:
        """The n features with the largest KS statistic (ties keep the model's order)."""
        order = np.argsort([-f.ks_statistic for f in self.features], kind="stable")
        return [self.features[i] for i in order[:n]]

    def to_dict(self) -> dict:
        return {
            "run_dir": str(self.run_dir),
            "drift": self.drift,
            "reasons": list(self.reasons),
            "drifted_features": self.drifted_features,
            "n_reference": self.n_reference,
            "n_new": self.n_new,
            "thresholds": dict(self.thresholds),
            "out_of_range": self.out_of_range,
            "class_mix": {"classes": list(self.classes),
                          "reference": dict(self.class_mix_reference),
                          "new": dict(self.class_mix_new),
                          "total_variation": self.class_mix_tv},
            "confidence": {"reference": self.confidence_reference, "new": self.confidence_new,
                           "drop": self.confidence_drop},
            "features": [f.to_dict() for f in self.features],
        }


def _check_threshold(name: str, value, *, upper: float | None = None, open_low: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value > 0 if open_low else value >= 0)
    if ok and upper is not None:
        ok = value < upper
    if not ok:
        allowed = "in (0, 1)" if upper is not None else ("> 0" if open_low else ">= 0")
        raise NeuralabError(f"{name} must be a number {allowed}, got {value!r}")
    return float(value)


def _new_inputs(new_data: np.ndarray | Dataset, predictor: Predictor) -> np.ndarray:
    """The new inputs as a float (n, d) array in the model's column order."""
    if isinstance(new_data, Dataset):
        check_features(new_data, predictor)
        X = new_data.X
    else:
        try:
            X = np.asarray(new_data, dtype=np.float64)
        except (TypeError, ValueError):
            raise NeuralabError("new data must be a numeric array of shape (n, d) or a Dataset") from None
    X = predictor.check_width(X, where="the new data")
    if len(X) == 0:
        raise NeuralabError("the new data has no rows")
    bad = ~np.all(np.isfinite(X), axis=1)
    if bad.any():
        raise NeuralabError(f"the new data has non-finite values in {int(bad.sum())} rows, "
                            f"the first being row {int(np.flatnonzero(bad)[0])}")
    return X


def _thresholds(alpha, min_ks, max_out_of_range, max_class_tv, max_confidence_drop) -> dict:
    """The drift thresholds, each checked, as floats by name."""
    return {"alpha": _check_threshold("alpha", alpha, upper=1.0, open_low=True),
            "min_ks": _check_threshold("min_ks", min_ks),
            "max_out_of_range": _check_threshold("max_out_of_range", max_out_of_range),
            "max_class_tv": _check_threshold("max_class_tv", max_class_tv),
            "max_confidence_drop": _check_threshold("max_confidence_drop", max_confidence_drop)}


def _mean_shift(diff: float, ref_std: float) -> float:
    """``diff / ref_std``; for a constant training feature 0 or +-inf."""
    if ref_std > 0:
        return float(diff / ref_std)
    # a constant training feature: any change of mean is infinitely many stds
    return 0.0 if diff == 0 else float(np.copysign(np.inf, diff))


def _feature_drift(X_ref: np.ndarray, X_new: np.ndarray, outside: np.ndarray, names: list[str],
                   t: dict) -> list[FeatureDrift]:
    """One :class:`FeatureDrift` per column of ``X_ref`` (n_ref, d) against ``X_new`` (n, d).

    ``outside`` (n, d) is True where a new value lies outside its training range.
    """
    from scipy.stats import ks_2samp

    d = X_ref.shape[1]
    lo, hi = X_ref.min(axis=0), X_ref.max(axis=0)
    ref_mean, ref_std = X_ref.mean(axis=0), X_ref.std(axis=0)
    new_mean, new_std = X_new.mean(axis=0), X_new.std(axis=0)
    features = []
    for j, name in enumerate(names):
        ks = ks_2samp(X_ref[:, j], X_new[:, j])
        stat, p = float(ks.statistic), float(ks.pvalue)
        p_adj = min(1.0, d * p)
        features.append(FeatureDrift(
            name=name, ks_statistic=stat, p_value=p, p_adjusted=p_adj,
            mean_shift=_mean_shift(new_mean[j] - ref_mean[j], ref_std[j]),
            out_of_range=float(outside[:, j].mean()), ref_mean=float(ref_mean[j]),
            ref_std=float(ref_std[j]), new_mean=float(new_mean[j]), new_std=float(new_std[j]),
            ref_min=float(lo[j]), ref_max=float(hi[j]),
            drifted=bool(p_adj < t["alpha"] and stat >= t["min_ks"])))
    return features


def _input_reasons(features: list[FeatureDrift], any_outside: float, t: dict) -> list[str]:
    """A line per drifted feature (most drifted first), and one for inputs out of range."""
    d = len(features)
    reasons = [f"feature {f.name} drifted: KS {f.ks_statistic:.3f} >= {t['min_ks']:g}, "
               f"p = {f.p_adjusted:.2g} after Bonferroni over {d} features < {t['alpha']:g}; "
               f"mean shift {f.mean_shift:+.2f} std"
               for f in sorted((f for f in features if f.drifted), key=lambda f: -f.ks_statistic)]
    if any_outside > t["max_out_of_range"]:
        worst = max(features, key=lambda f: f.out_of_range)
        reasons.append(f"{any_outside:.1%} of the new inputs lie outside the training range "
                       f"(> {t['max_out_of_range']:.1%}); most often feature {worst.name} "
                       f"({worst.out_of_range:.1%})")
    return reasons


def _class_mix(pred: np.ndarray, K: int) -> np.ndarray:
    return np.bincount(pred, minlength=K) / len(pred)


def _prediction_drift(predictor: Predictor, X_ref: np.ndarray, X_new: np.ndarray,
                      t: dict) -> tuple[dict, list[str]]:
    """The model's side: predicted class mix and mean confidence, reference against new.

    Returns (the :class:`DriftReport` fields ``class_mix_*`` and ``confidence_*``,
    a line per finding).
    """
    classes, K = predictor.classes, len(predictor.classes)
    p_ref, p_new = predictor.predict_proba(X_ref), predictor.predict_proba(X_new)
    mix_ref, mix_new = _class_mix(p_ref.argmax(axis=1), K), _class_mix(p_new.argmax(axis=1), K)
    tv = float(0.5 * np.abs(mix_new - mix_ref).sum())
    conf_ref, conf_new = float(p_ref.max(axis=1).mean()), float(p_new.max(axis=1).mean())
    drop = conf_ref - conf_new
    reasons = []
    max_class_tv, max_confidence_drop = t["max_class_tv"], t["max_confidence_drop"]
    if tv > max_class_tv:
        k = int(np.argmax(np.abs(mix_new - mix_ref)))
        reasons.append(f"the predicted class mix moved: total variation {tv:.3f} > {max_class_tv:g}; "
                       f"class {classes[k]} {mix_ref[k]:.1%} -> {mix_new[k]:.1%}")
    if drop > max_confidence_drop:
        reasons.append(f"the mean confidence fell by {drop:.3f} > {max_confidence_drop:g} "
                       f"({conf_ref:.3f} -> {conf_new:.3f})")
    fields = {"class_mix_reference": dict(zip(classes, mix_ref.tolist())),
              "class_mix_new": dict(zip(classes, mix_new.tolist())), "class_mix_tv": tv,
              "confidence_reference": conf_ref, "confidence_new": conf_new,
              "confidence_drop": drop}
    return fields, reasons


def compare(run_dir: str | Path, new_data: np.ndarray | Dataset, *, alpha: float = 0.01,
            min_ks: float = 0.1, max_out_of_range: float = 0.05, max_class_tv: float = 0.1,
            max_confidence_drop: float = 0.1, reference: Dataset | None = None,
            predictor: Predictor | None = None) -> DriftReport:
    """Compare new inputs with the run's training split: feature drift, range, class mix, confidence.

    Parameters
    ----------
    run_dir : path
        A run directory; its training split is the reference, rebuilt from
        ``config.json`` (or from ``reference``).
    new_data : ndarray of shape (n, d), or Dataset
        Raw (unscaled) inputs, as the model takes them; labels are not used.
        A Dataset's columns are reordered to the model's by name.
    alpha : float, default 0.01
        Significance level of the per-feature KS test, after Bonferroni correction.
    min_ks : float, default 0.1
        The smallest KS statistic that counts as drift (effect size).
    max_out_of_range : float, default 0.05
        Largest tolerated share of new rows with a feature outside the training range.
    max_class_tv : float, default 0.1
        Largest tolerated total variation distance between predicted class mixes.
    max_confidence_drop : float, default 0.1
        Largest tolerated fall of the mean confidence (largest class probability).
    reference : Dataset, optional
        The data the run was trained on, if ``config.json`` cannot load it again.
    predictor : Predictor, optional
        The run's model, when already loaded.

    Returns
    -------
    DriftReport
    """
    t = _thresholds(alpha, min_ks, max_out_of_range, max_class_tv, max_confidence_drop)
    split, predictor = training_split(run_dir, data=reference, predictor=predictor)
    X_ref, X_new = split.X, _new_inputs(new_data, predictor)
    # True where a new value lies outside the training range [min, max] of its feature
    outside = (X_new < X_ref.min(axis=0)) | (X_new > X_ref.max(axis=0))
    features = _feature_drift(X_ref, X_new, outside, predictor.feature_names, t)
    any_outside = float(outside.any(axis=1).mean())
    model_side, model_reasons = _prediction_drift(predictor, X_ref, X_new, t)
    reasons = _input_reasons(features, any_outside, t) + model_reasons
    return DriftReport(
        run_dir=Path(run_dir), n_reference=len(X_ref), n_new=len(X_new), thresholds=t,
        features=features, out_of_range=any_outside, classes=list(predictor.classes),
        drift=bool(reasons), reasons=reasons, X_reference=X_ref, X_new=X_new, **model_side)


def drift_figure(report: DriftReport, *, max_features: int = 8):
    """Histograms, reference against new, of the ``max_features`` most drifted features."""
    from neuralab.plots import new_figure

    shown = report.most_drifted(max_features)
    n = len(shown)
    cols = min(4, n)
    rows = -(-n // cols)
    fig = new_figure(figsize=(3.6 * cols, 2.9 * rows))
    index = {f.name: j for j, f in enumerate(report.features)}
    for i, f in enumerate(shown, start=1):
        ax = fig.add_subplot(rows, cols, i)
        a, b = report.X_reference[:, index[f.name]], report.X_new[:, index[f.name]]
        lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
        # shared bins, so that the two histograms compare bar for bar
        bins = np.linspace(lo, hi, 31) if hi > lo else np.array([lo - 0.5, lo + 0.5])
        ax.hist(a, bins=bins, density=True, alpha=0.5, color="#1f77b4", label="training")
        ax.hist(b, bins=bins, density=True, alpha=0.5, color="#d62728", label="new")
        colour = "#d62728" if f.drifted else "black"
        ax.set_title(f"{f.name}: KS {f.ks_statistic:.2f}, p_adj {f.p_adjusted:.2g}",
                     fontsize=9, color=colour)
        ax.tick_params(labelsize=7)
        if i == 1:
            ax.legend(fontsize=7)
    verdict = "drift" if report.drift else "no drift flagged"
    fig.suptitle(f"training ({report.n_reference}) vs new ({report.n_new}) inputs: {verdict}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def write_monitor(report: DriftReport, out_dir: str | Path, *, max_features: int = 8) -> dict[str, Path]:
    """Write ``monitor.json`` (:meth:`DriftReport.to_dict`) and ``monitor.png`` to ``out_dir``.

    Both are written atomically. Returns the paths, by name (``json``, ``figure``).
    """
    from neuralab.plots import save_figure

    out_dir = Path(out_dir)
    return {"json": write_json(out_dir / "monitor.json", report.to_dict()),
            "figure": save_figure(drift_figure(report, max_features=max_features),
                                  out_dir / "monitor.png")}
