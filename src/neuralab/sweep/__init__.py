"""The library behind ``neuralab sweep``: hyperparameter search by grid or random draws.

A *search space* maps settings (:data:`neuralab.config.SETTINGS`, those marked
``searchable``) to the values to try: a list (``{"lr": [0.01, 0.1], "hidden":
[[32], [64, 32]]}``) or, for number settings, a :class:`LogUniform` range
(``("loguniform", 1e-3, 1)`` in Python, ``lr=loguniform:1e-3:1`` on the command
line). :func:`parse_space` reads the command line's form; :func:`make_configs`
turns a space into trials (every combination, or ``n_trials`` seeded draws);
:func:`run_sweep` scores each trial on a stratified validation split or by
stratified k-fold cross-validation, ranks them, writes ``sweep.csv`` and
``sweep.json``, and retrains the best on all the non-test data as a normal run
directory ``best/``.

Selection never sees the test rows: with ``test_fraction`` the test part is cut
first (the same rows :func:`~neuralab.lab.run_training` holds out for the
same seed), and a ``test`` data set is only used by the final run.

- :mod:`~neuralab.sweep.space`: the searchable settings, the space and its trials;
- :mod:`~neuralab.sweep.trials`: a trial's settings, the scoring splits, one trial;
- :mod:`~neuralab.sweep.pool`: trials in parallel worker processes;
- :mod:`~neuralab.sweep.run`: :func:`run_sweep` and its files.

Example:
    >>> space = parse_space(["lr=0.01,0.1", "hidden=32;64x32"])
    >>> space
    {'lr': [0.01, 0.1], 'hidden': [[32], [64, 32]]}
    >>> [format_params(c) for c in make_configs(space)]
    ['lr=0.01, hidden=32', 'lr=0.01, hidden=64x32', 'lr=0.1, hidden=32', 'lr=0.1, hidden=64x32']
"""

from neuralab.sweep.run import SweepResult, run_sweep
from neuralab.sweep.space import (
    MODES,
    LogUniform,
    Space,
    format_params,
    format_value,
    grid,
    make_configs,
    normalize_space,
    parse_space,
    random_draws,
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
    "DEFAULT_VAL_FRACTION", "MODES", "LogUniform", "Space", "SweepResult", "Trial",
    "all_trial_settings", "evaluate_trial", "format_params", "format_value", "grid",
    "make_configs", "normalize_space", "parse_space", "random_draws", "run_sweep",
    "searchable", "searchable_setting", "selection_splits", "sweep_value", "trial_settings",
]
