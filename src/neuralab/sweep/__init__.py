"""The library behind ``neuralab sweep``: hyperparameter search as an Optuna study.

A *search space* maps settings (:data:`neuralab.config.SETTINGS`, those marked
``searchable``) to the values to try: a list (``{"lr": [0.01, 0.1], "hidden":
[[32], [64, 32]]}``) or, for number settings, a :class:`Range`
(``("loguniform", 1e-3, 1)`` in Python, ``lr=loguniform:1e-3:1`` on the command
line; ``uniform:LOW:HIGH`` too). :func:`parse_space` reads the command line's
form. :func:`run_sweep` runs the study's trials (every grid point, or
``n_trials`` drawn by Optuna's TPE or random sampler, bad ones pruned), scores
each on a stratified validation split or by stratified k-fold
cross-validation, ranks them, writes ``sweep.csv`` and ``sweep.json``, and
retrains the best on all the non-test data as a normal run directory
``best/``. The study lives in a journal file in the sweep's folder, or in a
database that workers on many machines share (:mod:`~neuralab.sweep.study`).

Selection never sees the test rows: with ``test_fraction`` the test part is cut
first (the same rows :func:`~neuralab.lab.run_training` holds out for the
same seed), and a ``test`` data set is only used by the final run.

- :mod:`~neuralab.sweep.space`: the searchable settings, the space and its grid;
- :mod:`~neuralab.sweep.trials`: a trial's settings, the scoring splits, one trial;
- :mod:`~neuralab.sweep.study`: the Optuna study, its storage and its slots;
- :mod:`~neuralab.sweep.worker`: workers, in this process or spawned ones;
- :mod:`~neuralab.sweep.run`: :func:`run_sweep`, :func:`show_sweep` and the files.

Example:
    >>> space = parse_space(["lr=0.01,0.1", "hidden=32;64x32"])
    >>> space
    {'lr': [0.01, 0.1], 'hidden': [[32], [64, 32]]}
    >>> [format_params(c) for c in grid(space)]
    ['lr=0.01, hidden=32', 'lr=0.01, hidden=64x32', 'lr=0.1, hidden=32', 'lr=0.1, hidden=64x32']
"""

from neuralab.sweep.run import PRUNERS, SweepResult, run_sweep, show_sweep
from neuralab.sweep.space import (
    SAMPLERS,
    LogUniform,
    Range,
    Space,
    default_sampler,
    format_params,
    format_value,
    grid,
    normalize_space,
    parse_space,
    searchable,
    searchable_setting,
    sweep_value,
)
from neuralab.sweep.trials import (
    DEFAULT_VAL_FRACTION,
    Trial,
    all_trial_settings,
    evaluate_trial,
    selection_splits,
    trial_settings,
)

__all__ = [
    "DEFAULT_VAL_FRACTION", "PRUNERS", "SAMPLERS", "LogUniform", "Range", "Space", "SweepResult",
    "Trial", "all_trial_settings", "default_sampler", "evaluate_trial", "format_params",
    "format_value", "grid", "normalize_space", "parse_space", "run_sweep", "searchable",
    "searchable_setting", "selection_splits", "show_sweep", "sweep_value", "trial_settings",
]
