"""The pictures of a frame, as JSON-ready data: the boundary image, the network diagram, numbers.

Images travel as base64 bytes, row 0 the top of the plane (ymax), as the page
puts them into a canvas.
"""

from __future__ import annotations

import base64
import math

import numpy as np

from neuralab.plots import CLASS_COLOURS

#: At most this many nodes of each layer (inputs, hidden units, outputs) get a map in the
#: network diagram, and their weights; the layer's ``units_total`` tells the page how many
#: there are. 16 maps of 25 x 25 a layer keep the page drawing at full speed.
MAX_NODES_SHOWN = 16
#: The same cap, under the name the server's ``/api/defaults`` reports it by.
MAX_UNITS_SHOWN = MAX_NODES_SHOWN
#: A frame carries the network diagram every this many frames while playing. Every frame:
#: at 2-8-8-8-2 the diagram adds about 1 ms to a frame of about 10 ms (train 10 steps, the
#: boundary, JSON), well inside the 33 ms of 30 frames a second (benchmarks/playground_fps.py).
HIDDEN_EVERY = 1


def _hex_rgb(colour: str) -> tuple[float, float, float]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))


def boundary_rgba(probs: np.ndarray, *, discretize: bool = False) -> np.ndarray:
    """(n, 4) uint8 colours: each point's predicted class colour blended with white.

    The rule of :func:`neuralab.plots.draw_boundary`: the colour of
    ``CLASS_COLOURS[argmax]`` at strength ``0.15 + 0.45 * (p_max - 1/K) / (1 - 1/K)``,
    so an unsure point is nearly white and a certain one a clear tint; alpha 255.
    ``discretize`` draws every point at the full strength 0.6, whatever the confidence.

    >>> boundary_rgba(np.array([[1.0, 0.0], [0.5, 0.5]])).tolist()
    [[121, 173, 210, 255], [221, 235, 244, 255]]
    >>> boundary_rgba(np.array([[1.0, 0.0], [0.5, 0.5]]), discretize=True).tolist()
    [[121, 173, 210, 255], [121, 173, 210, 255]]
    """
    K = probs.shape[1]
    colours = np.array([_hex_rgb(CLASS_COLOURS[k % len(CLASS_COLOURS)]) for k in range(K)])
    probs = np.nan_to_num(probs, nan=1.0 / K)
    pred = probs.argmax(axis=1)
    conf = np.ones(len(probs)) if discretize else probs.max(axis=1)
    strength = 0.15 + 0.45 * (conf - 1.0 / K) / (1 - 1.0 / K)
    rgb = 1 - strength[:, None] * (1 - colours[pred])
    out = np.full((len(probs), 4), 255, dtype=np.uint8)
    out[:, :3] = np.rint(np.clip(rgb, 0, 1) * 255)
    return out


#: A regression's colour map: the value's sign picks the colour, its size the strength.
VALUE_COLOURS = {"negative": CLASS_COLOURS[1], "positive": CLASS_COLOURS[0]}


def value_rgba(values: np.ndarray, bound: float, *, discretize: bool = False) -> np.ndarray:
    """(n, 4) uint8 colours of predicted values: white at 0, :data:`VALUE_COLOURS` at +-bound.

    The strength is ``0.75 * min(|v| / bound, 1)`` (``discretize``: 0.6 for every
    value off zero, like a class's full colour); NaN draws white.

    >>> value_rgba(np.array([1.0, 0.0, -2.0]), 1.0).tolist()
    [[87, 153, 199, 255], [255, 255, 255, 255], [224, 93, 94, 255]]
    """
    v = np.nan_to_num(np.asarray(values, dtype=np.float64).reshape(-1), nan=0.0)
    bound = bound if bound > 0 and math.isfinite(bound) else 1.0
    strength = (np.where(v != 0, 0.6, 0.0) if discretize
                else 0.75 * np.clip(np.abs(v) / bound, 0.0, 1.0))
    colours = np.array([_hex_rgb(VALUE_COLOURS["negative"]), _hex_rgb(VALUE_COLOURS["positive"])])
    rgb = 1 - strength[:, None] * (1 - colours[(v > 0).astype(int)])
    out = np.full((len(v), 4), 255, dtype=np.uint8)
    out[:, :3] = np.rint(np.clip(rgb, 0, 1) * 255)
    return out


def b64(a: np.ndarray) -> str:
    """The array's bytes as base64 text."""
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def num(v) -> float | None:
    """A float for JSON: NaN and infinities (and None) become None.

    >>> num(0.5), num(float("nan")), num(None)
    (0.5, None, None)
    """
    return float(v) if v is not None and math.isfinite(v) else None


def confusion_counts(y: np.ndarray, probs: np.ndarray, K: int) -> list[list[int]]:
    """K x K counts, rows the true class, columns the predicted (NaN scores count as class 0)."""
    pred = np.nan_to_num(probs).argmax(axis=1)
    return np.bincount(y * K + pred, minlength=K * K).reshape(K, K).tolist()


def unit_maps(o: np.ndarray, side: int, *, fixed: tuple[float, float] | None = None,
              cap: int = MAX_NODES_SHOWN) -> list[dict]:
    """Each unit's output (a column of ``o``, on a side x side grid) as grey bytes.

    Each map is scaled to 0..255 between its own min and max (both sent along),
    or between the bounds ``fixed`` (a probability's 0 and 1); at most ``cap`` units.

    >>> m = unit_maps(np.array([[0.0, 1.0], [2.0, 1.0]]), 1)
    >>> [(u["unit"], u["min"], u["max"], list(base64.b64decode(u["gray"]))) for u in m]
    [(0, 0.0, 2.0, [0, 255]), (1, 1.0, 1.0, [0, 0])]
    """
    o = np.asarray(o, dtype=np.float64)[:, :cap]
    with np.errstate(all="ignore"):  # a diverged net's NaN maps come out black
        lo, hi = o.min(axis=0), o.max(axis=0)
        a, b = (lo, hi) if fixed is None else (np.full_like(lo, fixed[0]), np.full_like(hi, fixed[1]))
        span = b - a
        scale = np.where((span > 0) & np.isfinite(span), 255.0 / np.where(span > 0, span, 1), 0.0)
        gray = np.nan_to_num(np.rint(np.clip((o - a) * scale, 0, 255))).astype(np.uint8)
    gray = np.ascontiguousarray(gray.T)  # one row of bytes a unit
    return [{"unit": j, "width": side, "height": side, "min": num(lo[j]), "max": num(hi[j]),
             "gray": b64(gray[j])} for j in range(o.shape[1])]


def _short(a: np.ndarray) -> list:
    """Numbers to 4 significant digits, as (nested) lists for JSON (NaN and infinities: None)."""
    if a.ndim > 1:
        return [_short(row) for row in a]
    return [float(f"{v:.4g}") if math.isfinite(v) else None for v in a.tolist()]


def network_maps(params: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, side: int, *,
                 activation: str, input_names: list[str], output_names: list[str],
                 probabilities: bool = True, cap: int = MAX_NODES_SHOWN) -> dict:
    """The network diagram's data: every layer's node maps over the plane, and the weights.

    Args:
        params: ``[(W1, b1), ..., (WL, bL)]`` in the lecture's layout (W_i: (d_{i-1}, d_i)).
        X: the model's inputs at the points of a side x side grid over the plane, (side^2, d_0)
            (the feature columns, scaled as the model sees them).
        activation: the hidden layers' activation, by name.
        input_names, output_names: a name for each input column and each output.
        probabilities: the output nodes show softmax(u)_k on a fixed 0..1 scale (a
            classifier); False shows the raw outputs u, each on its own scale.
        cap: at most this many nodes of a layer get a map and their weights.

    Returns:
        ``{"width", "height", "cap", "layers": [...], "weights": [W_1, ..., W_L]}``: a layer
        is ``{"kind": "input" | "hidden" | "output", "index": i, "units_total": d_i,
        "names", "scale": "own" | "probability", "nodes": unit_maps(...)}``, hidden and
        output nodes with their ``bias``; ``weights[i - 1]`` is W_i's first rows and
        columns (the drawn nodes), as lists of numbers to 4 significant digits.

    >>> X = np.array([[-1.0], [1.0]])  # one input at two points
    >>> net = network_maps([(np.array([[2.0]]), np.zeros(1)), (np.array([[1.0, -1.0]]), np.zeros(2))],
    ...                    X, 1, activation="relu", input_names=["x1"], output_names=["a", "b"])
    >>> [(l["kind"], l["units_total"], l["scale"]) for l in net["layers"]]
    [('input', 1, 'own'), ('hidden', 1, 'own'), ('output', 2, 'probability')]
    >>> [list(base64.b64decode(n["gray"])) for l in net["layers"] for n in l["nodes"]]
    [[0, 255], [0, 255], [128, 250], [128, 5]]
    >>> net["weights"]
    [[[2.0]], [[1.0, -1.0]]]
    """
    from neuralab.nn.activations import get_activation

    def layer(kind: str, index: int, o: np.ndarray, names=None, bias=None, fixed=None) -> dict:
        nodes = unit_maps(o, side, fixed=fixed, cap=cap)
        if bias is not None:
            for node, b in zip(nodes, _short(bias[:cap])):
                node["bias"] = b
        out = {"kind": kind, "index": index, "units_total": int(o.shape[1]),
               "scale": "probability" if fixed is not None else "own", "nodes": nodes}
        if names is not None:
            out["names"] = [str(n) for n in names]
        return out

    layers = [layer("input", 0, X, input_names)]
    o = X
    for i, (W, b) in enumerate(params, start=1):
        z = o @ W + b
        if i < len(params):
            o = np.asarray(get_activation(activation).forward(z))
            layers.append(layer("hidden", i, o, bias=b))
        elif probabilities:
            e = np.exp(z - z.max(axis=1, keepdims=True))  # the row max first: no overflow
            layers.append(layer("output", i, e / e.sum(axis=1, keepdims=True), output_names,
                                bias=b, fixed=(0.0, 1.0)))
        else:
            layers.append(layer("output", i, z, output_names, bias=b))
    return {"width": side, "height": side, "cap": cap, "layers": layers,
            "weights": [_short(np.asarray(W)[:cap, :cap]) for W, _ in params]}
