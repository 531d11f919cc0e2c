"""Inspect a trained network: its weights, its hidden units and its gradients.

The lecture asks whether one can look inside a model and understand it. The
functions answer with tables (lists of dicts, a small dataclass) and matplotlib
Figures (built with :func:`neuralab.plots.new_figure`, never pyplot; save them with
:func:`neuralab.plots.save_figure`). They live in one module each and are all
importable from here:

- :mod:`neuralab.explain.weights`: :func:`linear_weights`, a linear model's
  weight per feature and class, as stored and converted to raw input units, and
  :func:`class_weight_images_figure`, each class's weights drawn as an image;
- :mod:`neuralab.explain.layers`: :func:`layer_statistics` and
  :func:`layer_statistics_figure`, weight and activation statistics per layer,
  dead ReLU units;
- :mod:`neuralab.explain.gradient_norms`: :func:`gradient_norm_figure`,
  per-layer gradient norms over training;
- :mod:`neuralab.explain.plane`: :func:`hidden_unit_maps_figure`, what each
  hidden unit computes over the plane, and :func:`probability_surface_figure`
  (with :func:`probability_gradient`), the predicted class's probability and its
  gradient field;
- :mod:`neuralab.explain.figures`: :func:`partial_dependence_figure`, one curve
  per class against one feature.

The model sees standardised inputs ``(x - mean) / scale``; every function that
takes a ``scaler`` works in raw input units and applies the scaler itself.
``scaler`` is a :class:`neuralab.data.preprocess.Standardizer` (anything with
``mean``, ``scale`` and ``transform``), or None for no scaling. Functions that
run the model overwrite its forward buffers (what :meth:`MLP.intermediates`
returns) but never its weights or its parameters' gradients.
"""

from neuralab.explain.figures import partial_dependence_figure
from neuralab.explain.gradient_norms import gradient_norm_figure
from neuralab.explain.layers import layer_statistics, layer_statistics_figure
from neuralab.explain.plane import (
    hidden_unit_maps_figure,
    probability_gradient,
    probability_surface_figure,
)
from neuralab.explain.weights import LinearWeights, class_weight_images_figure, linear_weights

__all__ = [
    "LinearWeights",
    "class_weight_images_figure",
    "gradient_norm_figure",
    "hidden_unit_maps_figure",
    "layer_statistics",
    "layer_statistics_figure",
    "linear_weights",
    "partial_dependence_figure",
    "probability_gradient",
    "probability_surface_figure",
]
