"""Analysis of a trained run, from the lecture's list of what a real lab needs around a model.

- :mod:`~neuralab.analysis.monitor`: has new data drifted from the training data?
  (``neuralab monitor``)
- :mod:`~neuralab.analysis.outliers`: the training points with the largest loss,
  where label noise and outliers collect (``neuralab inspect``)
- :mod:`~neuralab.analysis.retrieve`: every item the model gives a label, ranked,
  with precision at k (``neuralab retrieve``)

Each reloads the run through :mod:`neuralab.runs` (outliers and monitor take
the training split from :func:`neuralab.runs.reader.training_split`) and writes
its files through :mod:`neuralab.fileio`. Nothing is imported here, so that
importing one of them does not load the others.
"""
