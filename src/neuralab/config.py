"""Every setting of neuralab, declared once: name, type, default, range, unit and help.

This table is the one schema of the project. From it come the command line's
options (``train``, ``sweep``, ``demo``; only :mod:`neuralab.cli` turns a
setting into a ``--flag``), the sweep's searchable parameters and their parsing,
the playground's ``/api/defaults`` and its controls, and the ``settings`` of
``config.json``. A value is checked once, where it enters (:func:`check`,
:func:`validate`, or :class:`TrainSettings` for Python callers); the code below
trusts it. An error names the *setting*:

>>> check("lr", -0.5)
Traceback (most recent call last):
...
neuralab.config.SettingError: lr must be a finite number > 0; got -0.5
>>> check("hidden", "64x32")
[64, 32]
>>> check("batch_size", "full") is None
True

The module sits at the bottom of the package and imports nothing of neuralab's
but the error type; the engine's registries (activations, initialisers,
optimisers) are tested to offer exactly the choices declared here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from neuralab import ArgumentError, NeuralabError

#: The lecture's iteration counts: 200 for the linear classifier, 10,000 for the 2-layer net.
LECTURE_ITERATIONS = MappingProxyType({"linear": 200, "mlp": 10_000})
#: The 2-D toy generators the playground offers (the registry has more data sets).
TOY_DATASETS = ("spiral", "moons", "circles", "xor", "gaussian")
#: Toys whose generators make exactly two classes.
TWO_CLASS_TOYS = ("moons", "circles", "xor")
#: The 2-D regression toys the playground offers (a numeric target over the plane).
REGRESSION_TOYS = ("plane", "gaussians")
#: The input features a 2-D data set can be expanded into (TensorFlow Playground's set),
#: computed from the raw columns x1, x2 before any standardisation.
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")

SURFACES = ("train", "sweep", "demo", "playground")
TRAINING = frozenset({"train", "sweep"})
ALL = frozenset(SURFACES)


class SettingError(ArgumentError):
    """A refused value: ``setting`` names the setting, ``value`` is what was given.

    The message starts with the setting's name, so that a caller that shows
    settings under another name (the command line's ``--flag``, the
    playground's control) can put its own name in front.
    """

    def __init__(self, setting: str, message: str, value: Any = None) -> None:
        super().__init__(setting, message)
        self.setting = setting
        self.value = value


@dataclass(frozen=True)
class Setting:
    """One setting: what it is called, what it holds and what it may be.

    ``kind`` is ``int``, ``float``, ``bool``, ``choice``, ``int_list`` or
    ``choice_list`` (a non-empty subset of ``choices``, kept in their order).
    ``optional`` settings also take None, spelled ``none_word`` in text
    (``full`` for the batch size: None means full batch). ``low_open``
    excludes ``minimum`` itself. ``surfaces`` says where the setting is offered;
    ``playground`` holds the tighter bounds (and the default) the playground
    uses, for the settings it shows.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    none_word: str = "none"
    none_means: str = ""
    unit: str = ""
    group: str = "training"
    surfaces: frozenset = TRAINING
    searchable: bool = True
    max_length: int | None = None
    playground: Mapping | None = None

    def bounded(self, surface: str) -> Setting:
        """This setting with the bounds and default ``surface`` uses."""
        if surface == "playground" and self.playground:
            return dataclasses.replace(self, **self.playground, playground=None)
        return self

    def allowed(self) -> str:
        """What the setting accepts, in words: ``a finite number > 0``, ``one of a, b``."""
        if self.kind == "choice":
            text = f"one of {', '.join(self.choices)}"
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "choice_list":
            text = f"a comma-separated list of {', '.join(self.choices)} (each at most once)"
        elif self.kind == "int_list":
            n = f"at most {self.max_length} " if self.max_length is not None else ""
            text = f"a list of {n}layer widths, each {_int_range(self.minimum, self.maximum)}"
        elif self.kind == "int":
            text = _int_range(self.minimum, self.maximum)
        else:
            text = _float_range(self.minimum, self.maximum, self.low_open, self.high_open)
        if self.optional:
            text += f", or {self.none_word}" + (f" ({self.none_means})" if self.none_means else "")
        return text

    def describe(self) -> dict:
        """The setting as plain data (the playground's controls are built from this)."""
        out = {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help,
               "allowed": self.allowed(), "unit": self.unit, "group": self.group,
               "optional": self.optional}
        for key in ("minimum", "maximum", "max_length"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.low_open:
            out["low_open"] = True
        if self.choices:
            out["choices"] = list(self.choices)
        if self.optional:
            out["none_word"], out["none_means"] = self.none_word, self.none_means
        return out


def _int_range(lo, hi) -> str:
    if hi is None:
        return {0: "a non-negative integer", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
    return f"an integer from {lo} to {hi}"


def _float_range(lo, hi, low_open: bool, high_open: bool) -> str:
    if hi is None:
        return f"a finite number {'>' if low_open else '>='} {lo:g}"
    return f"a number in {'(' if low_open else '['}{lo:g}, {hi:g}{')' if high_open else ']'}"


def _s(name: str, kind: str, default, help: str, **kw) -> Setting:
    return Setting(name, kind, default, help, **kw)


_DECLARED = (
    # --- data ---------------------------------------------------------------------------
    _s("dataset", "choice", "spiral", "The 2-D data set to learn (plane and gaussians: regression).",
       choices=TOY_DATASETS + REGRESSION_TOYS,
       group="data", surfaces=frozenset({"playground"}), searchable=False),
    _s("n_points", "int", 100, "Points per class of the generated data set (a regression set: "
       "all its points).", minimum=10,
       maximum=2000, unit="points per class", group="data",
       surfaces=frozenset({"playground"}), searchable=False),
    _s("classes", "int", 3, "Classes of the generated data set (moons, circles and xor have 2).",
       minimum=2, maximum=6, group="data", surfaces=frozenset({"playground"}), searchable=False),
    _s("noise", "float", 0.2, "Noise of the generated data set.", minimum=0.0, maximum=1.0,
       group="data", surfaces=frozenset({"playground"}), searchable=False),
    _s("test_fraction", "float", None, "Hold out this share as a stratified test split.",
       minimum=0.0, maximum=1.0, high_open=True, optional=True, none_means="no test split; 0 too",
       group="data", surfaces=frozenset({"train", "sweep", "playground"}), searchable=False,
       playground={"default": 0.2, "maximum": 0.9, "high_open": False}),
    _s("val_fraction", "float", None, "Hold out this share as a stratified validation split.",
       minimum=0.0, maximum=1.0, low_open=True, high_open=True, optional=True,
       none_means="no validation split", group="data", searchable=False),
    _s("standardize", "bool", True,
       "Scale features by the training split's mean and std (stored with the model).",
       group="data", surfaces=frozenset({"train", "sweep", "playground"}),
       playground={"default": False}),
    _s("features", "choice_list", None,
       "Inputs computed from a 2-D data set's x1 and x2, before standardisation (stored with "
       "the model, which then predicts from raw points).", choices=FEATURES, optional=True,
       none_means="the data's own columns", group="data",
       surfaces=frozenset({"train", "sweep", "playground"}), searchable=False,
       playground={"default": ("x1", "x2"), "optional": False}),
    _s("task", "choice", "classification",
       "classification (softmax and cross-entropy over the classes) or regression (a numeric "
       "target, linear output, mean squared error).", choices=("classification", "regression"),
       group="data", surfaces=frozenset({"train", "sweep", "playground"}), searchable=False),
    # --- model --------------------------------------------------------------------------
    _s("model", "choice", "mlp", "linear (softmax classifier) or mlp (hidden layers).",
       choices=("linear", "mlp"), group="model", surfaces=frozenset({"train", "sweep", "playground"})),
    _s("hidden", "int_list", (100,), "Hidden layer widths; on the command line repeat for depth.",
       minimum=1, maximum=100_000, unit="units", group="model",
       surfaces=frozenset({"train", "sweep", "playground"}),
       playground={"maximum": 256, "max_length": 6}),
    _s("activation", "choice", "relu", "The hidden layers' activation.",
       choices=("relu", "tanh", "sigmoid", "leaky_relu", "identity"), group="model",
       surfaces=frozenset({"train", "sweep", "playground"})),
    _s("init", "choice", "lecture",
       "Initial weights: lecture (0.01 N(0,1)), he or glorot; he trains deep ReLU nets.",
       choices=("lecture", "he", "glorot"), group="model",
       surfaces=frozenset({"train", "sweep", "playground"}),
       # the page's deep presets do not train from the lecture's 0.01 N(0, 1): he does
       playground={"default": "he"}),
    # --- optimiser ----------------------------------------------------------------------
    _s("lr", "float", 1.0, "Learning rate (step size).", minimum=0.0, low_open=True,
       group="optimiser", surfaces=frozenset({"train", "sweep", "playground"}),
       playground={"maximum": 10.0}),
    _s("reg", "float", 1e-3, "L2 strength: loss += 0.5 * reg * sum W^2 (not the biases).",
       minimum=0.0, group="optimiser", surfaces=frozenset({"train", "sweep", "playground"}),
       playground={"maximum": 1.0}),
    _s("l1", "float", 0.0, "L1 strength: loss += l1 * sum |W| (not the biases); its subgradient "
       "l1 * sign(W) pulls every weight toward zero by the same step.",
       minimum=0.0, group="optimiser", surfaces=frozenset({"train", "sweep", "playground"}),
       playground={"maximum": 1.0}),
    _s("optimizer", "choice", "sgd",
       "sgd, momentum, nesterov, adam; manual (torch: p.data.sub_(p.grad * lr)).",
       choices=("sgd", "momentum", "nesterov", "adam", "manual"), group="optimiser",
       surfaces=frozenset({"train", "sweep", "playground"}),
       playground={"choices": ("sgd", "momentum", "nesterov", "adam")}),
    _s("momentum", "float", 0.9, "Momentum of momentum and nesterov.", minimum=0.0, maximum=1.0,
       high_open=True, group="optimiser"),
    _s("weight_decay", "float", 0.0, "Optimiser weight decay.", minimum=0.0, group="optimiser"),
    _s("lr_schedule", "choice", "constant",
       "constant, step (x lr_gamma every lr_step steps) or cosine.",
       choices=("constant", "step", "cosine"), group="optimiser"),
    _s("lr_step", "int", None, "Steps between drops of the step schedule.", minimum=1,
       optional=True, none_means="a third of the run", group="optimiser"),
    _s("lr_gamma", "float", 0.1, "Factor of each drop of the step schedule.", minimum=0.0,
       maximum=1.0, low_open=True, group="optimiser"),
    _s("clip_norm", "float", None, "Clip the gradients' joint L2 norm to this.", minimum=0.0,
       low_open=True, optional=True, none_means="no clipping", group="optimiser"),
    # --- training -----------------------------------------------------------------------
    _s("iterations", "int", None, "Updates (default: the lecture's 200 linear, 10,000 mlp).",
       minimum=1, optional=True, none_means="the lecture's count, or epochs"),
    _s("epochs", "int", None, "Passes over the data, instead of iterations.", minimum=1,
       optional=True, none_means="count iterations"),
    _s("batch_size", "int", None, "Minibatch size (default: full batch).", minimum=1,
       optional=True, none_word="full", none_means="full batch",
       surfaces=frozenset({"train", "sweep", "playground"}), playground={"maximum": 5000}),
    _s("seed", "int", 0, "Seed for data, initial weights and shuffling.", minimum=0,
       maximum=2**32 - 1, surfaces=ALL),
    _s("log_every", "int", 10, "History row every N steps (N epochs with epochs and batch_size).",
       minimum=1, searchable=False),
    _s("early_stopping", "int", None,
       "Stop after N logged evaluations without a better validation loss; keep the best weights.",
       minimum=1, optional=True, none_means="train to the end"),
    _s("steps_per_frame", "int", 10, "Training steps between two pictures of the playground.",
       minimum=1, maximum=1000, surfaces=frozenset({"playground"}), searchable=False),
    _s("discretize", "bool", False, "Draw each point of the plane in its predicted class's full "
       "colour, not shaded by the model's confidence.",
       surfaces=frozenset({"playground"}), searchable=False),
    # --- the data pitfalls --------------------------------------------------------------
    _s("class_weight", "choice", None, "balanced: weight each class's loss by n / (K n_k).",
       choices=("balanced",), optional=True, none_means="equal weights", group="pitfalls"),
    _s("oversample", "bool", False, "Repeat examples of the rarer classes up to the largest's count.",
       group="pitfalls"),
    _s("augment", "bool", False, "Augment training batches: Gaussian jitter, or random image shifts.",
       group="pitfalls"),
    _s("augment_noise", "float", 0.1, "Jitter std, in standardised feature units.", minimum=0.0,
       low_open=True, group="pitfalls"),
    _s("augment_shift", "int", 2, "Largest image shift, in pixels.", minimum=1, unit="pixels",
       group="pitfalls"),
    # --- evaluation ---------------------------------------------------------------------
    _s("max_fpr", "float", None,
       "Binary: pick the threshold that keeps the false positive rate under this.",
       minimum=0.0, maximum=1.0, optional=True, none_means="argmax", group="evaluation",
       searchable=False),
    # --- output -------------------------------------------------------------------------
    _s("tensorboard", "bool", True,
       "Write TensorBoard event files into the run's tensorboard/ folder (a sweep: one per "
       "trial): the history's curves, histograms, the boundary, settings and final metrics.",
       group="output", searchable=False),
    # --- where it runs ------------------------------------------------------------------
    _s("backend", "choice", "numpy", "numpy (the engine) or torch (its PyTorch twin).",
       choices=("numpy", "torch"), group="backend", surfaces=ALL),
    _s("dtype", "choice", "float64", "float64 or float32.", choices=("float64", "float32"),
       group="backend", surfaces=frozenset({"train", "sweep", "demo"})),
    _s("device", "choice", "auto", "auto (CUDA where there is a GPU), cpu or cuda; torch backend.",
       choices=("auto", "cpu", "cuda"), group="backend", surfaces=frozenset({"train", "sweep", "demo"})),
    _s("dist_timeout", "int", 120, "Seconds a torch.distributed rank waits for the others (to "
       "form the world, and at each step) before it stops with an error.", minimum=1,
       maximum=86400, unit="seconds", group="backend", surfaces=frozenset({"train"}),
       searchable=False),
)

#: Every setting by name, in declaration order.
SETTINGS: Mapping[str, Setting] = MappingProxyType({s.name: s for s in _DECLARED})


def settings_for(surface: str) -> list[Setting]:
    """The settings ``surface`` offers, with that surface's bounds and defaults."""
    return [s.bounded(surface) for s in _DECLARED if surface in s.surfaces]


# --------------------------------------------------------------------------- checking


def _number(value, setting: Setting, integer: bool):
    """A finite int or float from a number or numeric text; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer and text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) and hasattr(value, "item"):
        value = value.item()  # a numpy scalar
    if isinstance(value, int):
        if abs(value) > 2**63:  # beyond any count, and beyond a float's range for the largest
            return None
        return value if integer else float(value)
    if isinstance(value, float) and math.isfinite(value):
        if integer:
            return int(value) if value.is_integer() else None
        return value
    return None


def _in_range(v, s: Setting) -> bool:
    lo, hi = s.minimum, s.maximum
    if lo is not None and (v < lo or (s.low_open and v == lo)):
        return False
    return hi is None or (v < hi if s.high_open else v <= hi)


def _parse_widths(value):
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "[]"):
            return []
        value = [p for p in text.replace("x", ",").replace(";", ",").split(",") if p.strip()]
    if isinstance(value, (list, tuple)):
        return value
    return None


def _parse_names(value) -> list | None:
    """A list of names from a list or comma-separated text ("x1, x2,x1^2"), else None."""
    if isinstance(value, str):
        value = [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _coerce(s: Setting, value):
    """``value`` as the setting's type, or raise SettingError."""
    fail = SettingError(s.name, f"{s.name} must be {s.allowed()}; got {value!r}", value)
    if s.optional and (value is None or (isinstance(value, str) and value.strip().lower()
                                         in (s.none_word, "none", "null"))):
        return None
    if value is None:
        raise fail
    if s.kind == "choice":
        if not isinstance(value, str) or value not in s.choices:
            raise fail
        return value
    if s.kind == "bool":
        if isinstance(value, bool):
            return value
        words = {"true": True, "yes": True, "on": True, "1": True,
                 "false": False, "no": False, "off": False, "0": False}
        if isinstance(value, str) and value.strip().lower() in words:
            return words[value.strip().lower()]
        raise fail
    if s.kind == "choice_list":
        items = _parse_names(value)
        if not items or any(i not in s.choices for i in items) or len(set(items)) != len(items):
            raise fail
        return [c for c in s.choices if c in items]
    if s.kind == "int_list":
        items = _parse_widths(value)
        widths = None if items is None else [_number(v, s, True) for v in items]
        if (widths is None or any(w is None or not _in_range(w, s) for w in widths)
                or (s.max_length is not None and len(widths) > s.max_length)):
            raise fail
        return widths
    v = _number(value, s, s.kind == "int")
    if v is None or not _in_range(v, s):
        raise fail
    if s.name in ("test_fraction",) and v == 0:
        return None  # no test split, however it is spelled
    return v


def check(name: str, value, *, surface: str = "python"):
    """One setting's value, checked and converted (text is parsed); SettingError otherwise."""
    if name not in SETTINGS:
        raise SettingError(name, f"unknown setting {name!r}; the settings are "
                                 f"{', '.join(SETTINGS)}", name)
    return _coerce(SETTINGS[name].bounded(surface), value)


def validate(values: Mapping, *, surface: str = "python",
             names: Iterable[str] | None = None) -> dict:
    """Every setting of ``names`` (default: those ``surface`` offers), checked as a whole.

    Missing settings take their default; unknown keys are an error naming them;
    then the rules that tie settings together are checked (:func:`check_together`).
    """
    offered = {s.name: s for s in (settings_for(surface) if surface in SURFACES else _DECLARED)}
    wanted = list(names) if names is not None else list(offered)
    unknown = [k for k in values if k not in wanted]
    if unknown:
        raise SettingError(unknown[0], f"unknown setting {unknown[0]!r}; the settings are "
                                       f"{', '.join(wanted)}", unknown[0])
    out = {}
    for name in wanted:
        s = offered.get(name) or SETTINGS[name]
        default = list(s.default) if isinstance(s.default, tuple) else s.default
        out[name] = _coerce(s, values[name]) if name in values else default
    check_together(out)
    return out


def check_together(v: dict) -> None:
    """The rules between settings; fills in what one setting's default depends on another.

    A linear model has no hidden layers (they are dropped); without iterations or
    epochs, training runs the lecture's count for the model.
    """
    if v.get("model") == "linear":
        v["hidden"] = []
    elif "model" in v and "hidden" in v and not v["hidden"]:
        raise SettingError("hidden", "hidden must list at least one width for model mlp; got []",
                           [])
    if v.get("iterations") is not None and v.get("epochs") is not None:
        raise SettingError("epochs", f"iterations and epochs exclude each other; got iterations "
                                     f"{v['iterations']} and epochs {v['epochs']}", v["epochs"])
    if "iterations" in v and v.get("iterations") is None and v.get("epochs") is None:
        v["iterations"] = LECTURE_ITERATIONS[v.get("model", "mlp")]
    if (v.get("test_fraction") or 0) + (v.get("val_fraction") or 0) >= 1:
        raise SettingError("val_fraction", f"test_fraction + val_fraction must be below 1; got "
                                           f"{v['test_fraction']} + {v['val_fraction']}",
                           v["val_fraction"])
    if v.get("optimizer") == "manual" and v.get("weight_decay"):
        raise SettingError("weight_decay", "weight_decay must be 0 with optimizer manual (the "
                                           "by-hand update has none; use reg); got "
                                           f"{v['weight_decay']}", v["weight_decay"])
    torch_only = (("optimizer", "manual", "the torch backend's by-hand update"),
                  ("device", "cuda", "the engine runs on the CPU"))
    for name, value, why in torch_only:
        if v.get(name) == value and v.get("backend", "numpy") != "torch":
            raise SettingError(name, f"{name} {value!r} needs backend torch ({why}); "
                                     f"got backend {v.get('backend', 'numpy')!r}", value)


# --------------------------------------------------------------------------- a run's settings

TRAIN_NAMES = tuple(s.name for s in _DECLARED if "train" in s.surfaces)


def _train_field(s: Setting):
    if isinstance(s.default, tuple):
        return (s.name, Any, field(default_factory=lambda d=s.default: list(d)))
    return (s.name, Any, field(default=s.default))


class _SettingsBase:
    """Methods of :class:`TrainSettings` (its fields come from the schema)."""

    def __post_init__(self) -> None:
        values = validate({n: getattr(self, n) for n in TRAIN_NAMES}, surface="train")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def sizes(self, n_features: int, n_classes: int) -> list[int]:
        """Layer widths ``[d_0, hidden..., K]`` for data of this width and class count."""
        return [int(n_features), *self.hidden, int(n_classes)]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> TrainSettings:
        """A copy with ``changes``, checked again as a whole."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Mapping, *, where: str = "settings") -> TrainSettings:
        """Settings read back from a file: unknown keys are ignored, every value is checked."""
        if not isinstance(values, Mapping):
            raise NeuralabError(f"{where} must be an object of settings; got {type(values).__name__}")
        known = {k: v for k, v in values.items() if k in TRAIN_NAMES}
        try:
            return cls(**known)
        except SettingError as exc:
            raise SettingError(exc.setting, f"{where}: {exc}", exc.value) from None


#: Every setting of a training run, with its default; ``config.json`` stores them all.
#: Constructing one checks every value (SettingError names the first bad one).
TrainSettings = dataclasses.make_dataclass(
    "TrainSettings", [_train_field(SETTINGS[n]) for n in TRAIN_NAMES], bases=(_SettingsBase,), frozen=True,
    namespace={"__module__": __name__, "__doc__": _SettingsBase.__doc__.replace(
        "Methods of :class:`TrainSettings` (its fields come from the schema).",
        "Every setting of a training run (fields from :data:`SETTINGS`), checked on creation.")})
