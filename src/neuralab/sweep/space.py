"""The search space: which settings a sweep may search, their values, and the trials they make.

Which settings can be searched, and how a value's text is read, comes from the
one schema (:mod:`neuralab.config`): a setting the sweep offers and the schema
marks ``searchable``. Only the sweep's own syntax is read here: values separated
by ``,`` or ``;`` (``hidden=32;64x32``) and the ranges ``uniform:LOW:HIGH`` and
``loguniform:LOW:HIGH``.

>>> parse_space(["batch_size=full,32", "activation=relu,tanh", "lr=loguniform:1e-3:1"])
{'batch_size': [None, 32], 'activation': ['relu', 'tanh'], 'lr': Range(low=0.001, high=1.0, log=True, integer=False)}
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from neuralab import ArgumentError, NeuralabError
from neuralab.config import SETTINGS, Setting, SettingError, check, settings_for

#: How trials are drawn: every combination of listed values, Optuna's TPE, or uniform random draws.
SAMPLERS = ("grid", "tpe", "random")


@dataclass(frozen=True)
class Range:
    """A number range to draw from: uniform, or log-uniform (every decade equally likely).

    Attributes:
        low, high: the range's ends, ``low < high`` (``0 < low`` for a log range).
        log: draw the logarithm uniformly.
        integer: draw whole numbers (for an integer setting such as ``iterations``).

    Example:
        >>> str(Range(1e-3, 1.0, log=True)), str(Range(10, 200, integer=True))
        ('loguniform:0.001:1', 'uniform:10:200')
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        low, high = self.low, self.high
        kind = "loguniform" if self.log else "uniform"
        ok = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                 for v in (low, high))
        if not ok or not (math.isfinite(low) and math.isfinite(high) and low < high
                          and (low > 0 or not self.log)):
            need = "0 < low < high" if self.log else "low < high"
            raise NeuralabError(f"a {kind} range needs finite numbers {need}, "
                                f"got low={low!r}, high={high!r}")

    def __str__(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}:{self.low:g}:{self.high:g}"


def LogUniform(low: float, high: float) -> Range:  # noqa: N802 - reads as the range it makes
    """The log-uniform range ``loguniform:LOW:HIGH``.

    >>> LogUniform(1e-3, 1.0)
    Range(low=0.001, high=1.0, log=True, integer=False)
    """
    return Range(low, high, log=True)


Space = dict[str, "list | Range"]


# --- which settings ---------------------------------------------------------------------------

def searchable() -> dict[str, Setting]:
    """The settings a sweep may search: those it offers that the schema marks searchable.

    >>> "lr" in searchable(), "log_every" in searchable(), "test_fraction" in searchable()
    (True, False, False)
    """
    return {s.name: s for s in settings_for("sweep") if s.searchable}


def searchable_setting(name: str) -> Setting:
    """The setting ``name`` if a sweep may search it; else a one-line error that says why."""
    offered = searchable()
    if name in offered:
        return offered[name]
    if name in SETTINGS and "sweep" in SETTINGS[name].surfaces:
        raise SettingError(name, f"{name} cannot be searched: every trial of a sweep uses the "
                                 f"same {name}", name)
    raise SettingError(name, f"unknown setting {name!r}; choose from {', '.join(offered)}", name)


_RANGE_WORDS = ("uniform", "loguniform")


def _range(setting: Setting, values) -> Range:
    """A range for ``setting``, its ends checked against the setting's range.

    Number settings take ranges; an integer setting's range draws whole numbers.
    """
    if not isinstance(values, Range):  # ("loguniform", low, high) or ("uniform", low, high)
        values = Range(values[1], values[2], log=values[0].lower() == "loguniform")
    if setting.kind not in ("float", "int"):
        raise NeuralabError(f"{values} is a range of numbers; {setting.name} takes a list of "
                            "values")
    if setting.kind == "int":
        if values.low != int(values.low) or values.high != int(values.high):
            raise NeuralabError(f"{setting.name} is a whole number: a range of it needs whole "
                                f"ends, got {values}")
        values = Range(int(values.low), int(values.high), log=values.log, integer=True)
    # every draw lies between the ends, so ends inside the setting's range keep draws inside
    check(setting.name, values.low, surface="sweep")
    check(setting.name, values.high, surface="sweep")
    return values


def _is_range(values) -> bool:
    return isinstance(values, Range) or (
        isinstance(values, tuple) and len(values) == 3 and isinstance(values[0], str)
        and values[0].lower() in _RANGE_WORDS)


# --- the command line's form ------------------------------------------------------------------

def sweep_value(name: str, value):
    """One value of setting ``name``, read by :func:`neuralab.config.check`; the error quotes it.

    >>> sweep_value("hidden", "64x32"), sweep_value("batch_size", "full")
    ([64, 32], None)
    >>> sweep_value("lr", "abc")
    Traceback (most recent call last):
    ...
    neuralab.config.SettingError: sweep value lr=abc: lr must be a finite number > 0; got 'abc'
    """
    try:
        return check(name, value, surface="sweep")
    except SettingError as exc:
        raise SettingError(name, f"sweep value {name}={format_value(name, value)}: {exc}",
                           value) from None


def _parse_range(setting: Setting, text: str) -> Range:
    parts = text.split(":")
    if len(parts) != 3 or parts[0].lower() not in _RANGE_WORDS:
        raise NeuralabError("a range is uniform:LOW:HIGH or loguniform:LOW:HIGH, such as "
                            "loguniform:1e-3:1")
    try:
        low, high = float(parts[1]), float(parts[2])
    except ValueError:
        raise NeuralabError(f"{parts[0]} ends must be numbers, "
                            f"got {parts[1]!r} and {parts[2]!r}") from None
    return _range(setting, Range(low, high, log=parts[0].lower() == "loguniform"))


def _parse_spec(spec: str) -> tuple[str, list | Range]:
    """``(name, values)`` of one ``SETTING=VALUES`` spec."""
    try:
        if "=" not in spec:
            raise NeuralabError("expected SETTING=VALUES, such as lr=0.01,0.1")
        name, _, text = spec.partition("=")
        name, text = name.strip().replace("-", "_"), text.strip()
        setting = searchable_setting(name)
        if text.lower().partition(":")[0] in _RANGE_WORDS:
            return name, _parse_range(setting, text)
        # alternatives are separated by , or ; (hidden's layers by x: hidden=32;64x32)
        items = [v.strip() for v in text.replace(";", ",").split(",") if v.strip()]
        if not items:
            raise NeuralabError(f"empty list of values for {name}")
    except NeuralabError as exc:
        raise NeuralabError(f"sweep spec {spec!r}: {exc}") from None
    return name, [sweep_value(name, v) for v in items]


def parse_space(specs: Sequence[str]) -> Space:
    """Read command-line specs ``SETTING=V1,V2,...`` into a search space.

    Values are separated by ``,`` or ``;``; each is read as the setting's
    ``--flag`` reads it (:func:`neuralab.config.check`): ``hidden`` takes layer
    widths joined by ``x`` (``hidden=32;100;64x32``), ``batch_size=full`` is
    full batch, booleans are true/false. Number settings also take a range,
    ``uniform:LOW:HIGH`` or ``loguniform:LOW:HIGH``, for the tpe and random
    samplers, its ends inside the setting's range (whole numbers for an integer
    setting, whose draws are whole). Any :func:`searchable` setting may be searched. A bad spec is a
    one-line :class:`~neuralab.NeuralabError` that quotes the spec, or the value.

    Example:
        >>> parse_space(["lr=0.01,0.1", "hidden=32;64x32"])
        {'lr': [0.01, 0.1], 'hidden': [[32], [64, 32]]}
        >>> parse_space(["lrate=0.1"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        neuralab.NeuralabError: sweep spec 'lrate=0.1': unknown setting 'lrate'; choose from ...
    """
    space: Space = {}
    for spec in specs:
        name, values = _parse_spec(spec)
        if name in space:
            raise NeuralabError(f"sweep spec {spec!r}: {name} is given twice; "
                                "list every value in one spec")
        space[name] = values
    return space


# --- the Python form --------------------------------------------------------------------------

def _value_list(setting: Setting, values) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise NeuralabError(f"{setting.name} needs a list of values or a range, "
                            f"got {values!r}")
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not values:
        raise NeuralabError(f"empty list of values for {setting.name}")
    if setting.kind == "int_list":  # a single width is a one-layer net
        values = [[int(v)] if isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                  else list(v) if isinstance(v, (list, tuple)) else v for v in values]
    return values


def normalize_space(space: Mapping[str, object]) -> Space:
    """Check a search space written in Python and bring it to one form.

    Values are lists (tuples and other sequences become lists), a :class:`Range`,
    ``("uniform", low, high)`` or ``("loguniform", low, high)``. A hidden alternative written as a single
    width becomes a one-layer list: ``{"hidden": [32, [64, 32]]}`` is
    ``[[32], [64, 32]]``. The values themselves are checked once, with each
    trial's settings (:func:`~neuralab.sweep.trials.trial_settings`).
    """
    if not isinstance(space, Mapping):
        raise NeuralabError(f"the search space must map settings to values, "
                            f"got {type(space).__name__}")
    out: Space = {}
    for raw_name, values in space.items():
        setting = searchable_setting(str(raw_name).replace("-", "_"))
        out[setting.name] = (_range(setting, values) if _is_range(values)
                             else _value_list(setting, values))
    return out


# --- trials -----------------------------------------------------------------------------------

def grid(space: Mapping[str, object]) -> list[dict]:
    """Every combination of the space's lists, the first setting varying slowest.

    >>> len(grid({"lr": [0.01, 0.1, 1], "reg": [1e-4, 1e-3]}))
    6
    """
    space = normalize_space(space)
    for name, values in space.items():
        if isinstance(values, Range):
            raise ArgumentError("sampler", f"the grid sampler needs a list of values for {name}, "
                                           f"got the range {values}; set sampler tpe or random "
                                           "for ranges", hint="sampler")
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*space.values())]


def default_sampler(space: Mapping[str, object]) -> str:
    """``grid`` when every searched setting is a list of values, else ``tpe``.

    >>> default_sampler({"lr": [0.1, 1]}), default_sampler({"lr": LogUniform(1e-3, 1)})
    ('grid', 'tpe')
    """
    return "grid" if all(not isinstance(v, Range) for v in space.values()) else "tpe"


# --- values as the command line writes them ---------------------------------------------------

def format_value(name: str, value, *, digits: int | None = None) -> str:
    """A value as the command line writes it: ``64x32``, ``full``, ``true``, ``0.01``.

    Floats are written exactly (``repr``), or with ``digits`` significant digits.

    >>> format_value("batch_size", None), format_value("hidden", [64, 32])
    ('full', '64x32')
    """
    if value is None:
        return SETTINGS[name].none_word if name in SETTINGS else "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value) if digits is None else f"{value:.{digits}g}"
    return str(value)


def format_params(params: Mapping[str, object]) -> str:
    """``lr=0.01, hidden=64x32``."""
    return ", ".join(f"{k}={format_value(k, v, digits=6)}" for k, v in params.items())
