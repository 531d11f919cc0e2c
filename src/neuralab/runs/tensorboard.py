"""TensorBoard event files of a run: scalars, histograms, the boundary image and hparams.

Every run that ``train`` writes (unless the ``tensorboard`` setting is off) holds
``tensorboard/``, so that ``tensorboard --logdir runs`` shows and compares all
runs, and the trials of a sweep (``SWEEP/tensorboard/trial-NNN/``). A run's
events are:

- scalars at every history row, one tag per column of ``history.csv``
  (:func:`scalar_tag`: ``loss/train``, ``accuracy/val``, ``grad_norm/W1``, ...),
  at the row's step, and the learning rate ``lr`` the trainer used;
- histograms of every W_i and b_i and of each layer's output on a fixed sample
  of at most 512 training rows, about every tenth of the run and at its end;
- the decision-boundary figure of a 2-D data set (``figures/boundary.png``);
- the run's settings as hparams, with its final metrics (``final/test_accuracy``, ...).

They are written by tensorboardX's event writer (rank 0 only: whoever
writes the run), into the run's new state, so that they appear with the run
and an abandoned run leaves none. A resumed run adds a new event file that
purges the old file's events from its first step on, so the series read back
equal ``history.csv``. tensorboardX tries ``import torch`` when it is imported
(only to widen a type hint); on the engine's backend it is imported with torch
hidden (:func:`_tensorboardx`), so that writing events never loads torch.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import secrets
import struct
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: the folder of a run (or a sweep) that holds its event files
TENSORBOARD = "tensorboard"
#: histogram sets over a run (and one at its end)
HISTOGRAMS = 10
#: at most this many training rows feed the activation histograms
SAMPLE_ROWS = 512
#: bins of each histogram
BINS = 64
#: events kept in memory before they are written
PENDING = 256
#: history columns whose tag is ``GROUP/SPLIT``
_SPLIT_TAGS = {"loss": "loss/train", "train_accuracy": "accuracy/train", "val_loss": "loss/val",
               "val_accuracy": "accuracy/val"}
#: the final metrics of each split shown beside the hparams
FINAL_METRICS = ("accuracy", "loss", "roc_auc", "mse", "mae", "r2")

_IMPORT_LOCK = threading.Lock()


@functools.cache
def scalar_tag(column: str) -> str:
    """The TensorBoard tag of a history column.

    >>> [scalar_tag(c) for c in ("loss", "val_accuracy", "grad_norm_W1", "lr")]
    ['loss/train', 'accuracy/val', 'grad_norm/W1', 'lr']
    """
    if column in _SPLIT_TAGS:
        return _SPLIT_TAGS[column]
    if column.startswith("grad_norm_"):
        return "grad_norm/" + column[len("grad_norm_"):]
    return column


def _tensorboardx():
    """The tensorboardX package, imported without torch unless torch is loaded already.

    tensorboardX's writer module runs ``try: import torch`` at import time and
    falls back to NumPy arrays without it; a ``None`` entry in ``sys.modules``
    makes that import fail, taking the fallback, and is removed again at once.
    """
    with _IMPORT_LOCK:
        if "tensorboardX" in sys.modules or "torch" in sys.modules:
            import tensorboardX
            return tensorboardX
        sys.modules["torch"] = None  # type: ignore[assignment]
        try:
            import tensorboardX
        finally:
            if sys.modules.get("torch", False) is None:
                del sys.modules["torch"]
        return tensorboardX


class EventFile:
    """A new event file in ``folder``, written by tensorboardX's ``EventsWriter``.

    The writer is tensorboardX's own (its record format, checksums and protocol
    buffers), used synchronously: ``SummaryWriter`` hands every event through a
    ``multiprocessing`` queue to a thread, which costs more than writing it. The
    file's name ends in a random token, so that a second file in the same second (a
    resumed run) never reopens, and empties, an earlier one: the run's new state
    hard-links the old state's files. ``purge_step``: TensorBoard hides the earlier
    files' events from that step on (a resumed run's first step), as
    ``SummaryWriter(purge_step=...)`` does.

    Events are kept as plain numbers and written :data:`PENDING` at a time (and
    when the file is flushed or closed): between training steps, building and
    writing one event costs several times what it does in a batch, where the
    writer's code stays warm. A run's events only appear with the run, so nothing
    is shown later than it would be.
    """

    def __init__(self, folder: str | Path, *, purge_step: int | None = None) -> None:
        _tensorboardx()
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        self._event = Event
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        start = 0 if purge_step is None else purge_step
        suffix = f".{start:010d}.{os.getpid()}.{secrets.token_hex(4)}"
        self.folder = folder
        self._tags, self._row, self._items = None, None, []
        self._pending: list[tuple] = []
        self._writer = EventsWriter(str(folder / "events"), suffix)  # writes the file version
        if purge_step is not None:
            self._writer.write_event(Event(wall_time=time.time(), step=purge_step,
                                           session_log=SessionLog(status=SessionLog.START)))

    def add_summary(self, summary, step: int) -> None:
        """One event: ``summary`` (a tensorboardX Summary proto, or a function of no
        arguments that makes one, called when the event is written) at ``step``."""
        self._add((time.time(), int(step), None, summary))

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """One event of scalars (tag -> value) at ``step``."""
        self._add((time.time(), int(step), tuple(values), tuple(values.values())))

    def _add(self, event: tuple) -> None:
        if self._writer is None:
            raise ValueError(f"the event file in {self.folder} is closed")
        self._pending.append(event)
        if len(self._pending) >= PENDING:
            self.flush()

    def flush(self) -> None:
        """Write the pending events (to the file's buffer; :meth:`close` syncs it)."""
        pending, self._pending = self._pending, []
        for wall_time, step, tags, payload in pending:
            if tags is None:
                summary = payload() if callable(payload) else payload
                if summary is not None:
                    self._writer.write_event(self._event(wall_time=wall_time, step=step,
                                                         summary=summary))
                continue
            # a run logs the same tags row after row: the event of the last set of tags is
            # kept and only its numbers change, several times cheaper than building it anew
            if tags != self._tags:
                self._tags = tags
                self._row = self._event(summary=_summary(dict(zip(tags, payload))))
                self._items = list(self._row.summary.value)
            else:
                for item, v in zip(self._items, payload):
                    item.simple_value = v
            self._row.wall_time, self._row.step = wall_time, step
            self._writer.write_event(self._row)

    def close(self) -> None:
        """Write what is pending, flush and close the file; closing again does nothing."""
        if self._writer is not None:
            try:
                self.flush()
            finally:
                self._writer.close()
                self._writer = None


def _summary(values: Mapping[str, float]):
    """One Summary proto holding several scalars (one event per row, not one per value)."""
    from tensorboardX.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=tag, simple_value=v) for tag, v in values.items()])


_NUMBERS = (int, float, np.integer, np.floating)


def _number(value) -> float | None:
    """``value`` as a float when it is a number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return None
    return float(value)


def hparam_value(value) -> bool | int | float | str:
    """A setting's value as TensorBoard's hparams take it: a number, a bool or text.

    >>> [hparam_value(v) for v in (None, [100, 50], ["x1", "x2"], 0.1, True, [])]
    ['none', '100x50', 'x1,x2', 0.1, True, 'none']
    """
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        sep = "x" if all(isinstance(v, (int, np.integer)) for v in value) else ","
        return sep.join(str(v) for v in value)
    return str(value)


def final_metrics(metrics: Mapping[str, Mapping]) -> dict[str, float]:
    """``final/SPLIT_METRIC`` for every finite headline metric of every split."""
    out = {}
    for split, values in metrics.items():
        for key in FINAL_METRICS:
            v = _number(values.get(key)) if isinstance(values, Mapping) else None
            if v is not None and math.isfinite(v):
                out[f"final/{split}_{key}"] = v
    return out


def layer_outputs(state: Mapping[str, np.ndarray], activation: str | None,
                  X: np.ndarray) -> dict[str, np.ndarray]:
    """Each layer's output o_i = sigma(o_{i-1} W_i + b_i) for the rows X (the last: logits).

    Computed from the weights in the lecture's layout, the same for either backend.
    """
    from neuralab.nn.activations import get_activation

    layers = sum(1 for k in state if k.startswith("W"))
    out, o = {}, X
    for i in range(1, layers + 1):
        z = o @ state[f"W{i}"] + state[f"b{i}"]
        if i < layers:
            o = get_activation(activation or "identity").forward(z).copy()
            out[f"activations/layer{i}"] = o
        else:
            out["activations/output"] = z
    return out


def histogram_counts(values) -> tuple[tuple[float, float, int, float, float], np.ndarray,
                                      np.ndarray] | None:
    """The finite ``values`` in :data:`BINS` equal bins from their least to their greatest:
    ``((min, max, num, sum, sum_squares), edges, counts)``, or None when there are none.

    The bins and counts are ``np.histogram(v, bins=BINS)``'s (all values equal: bins
    from the value - 0.5 to + 0.5), counted with ``bincount``, several times faster.
    """
    v = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(v).all():
        v = v[np.isfinite(v)]
    if not v.size:
        return None
    lo, hi = float(v.min()), float(v.max())
    first, last = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    edges = np.linspace(first, last, BINS + 1)
    index = ((v - first) * (BINS / (last - first))).astype(np.intp)
    np.clip(index, 0, BINS - 1, out=index)
    # a value the product put one bin off its edges goes back (np.histogram does the same)
    index[v < edges[index]] -= 1
    index[(v >= edges[index + 1]) & (index != BINS - 1)] += 1
    counts = np.bincount(index, minlength=BINS)
    return (lo, hi, int(v.size), float(v.sum()), float(np.dot(v, v))), edges, counts


def _histogram_proto(tag: str, stats, edges: np.ndarray, counts: np.ndarray):
    from tensorboardX.summary import histogram_raw

    lo, hi, num, total, squares = stats
    # each bucket holds the values up to its limit; an empty first one opens at the lowest edge
    return histogram_raw(tag, min=lo, max=hi, num=num, sum=total, sum_squares=squares,
                         bucket_limits=edges.tolist(), bucket_counts=[0, *counts.tolist()])


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


class RunEvents:
    """One run's TensorBoard events; called as a :func:`~neuralab.train.fit` callback.

    Args:
        folder: the run's ``tensorboard/`` folder (made when missing).
        trainer: the run's trainer (its ``state_dict()`` and ``lr``).
        X: the scaled training inputs; a seeded sample of at most
            :data:`SAMPLE_ROWS` rows feeds the activation histograms.
        activation: the hidden layers' activation.
        total: the updates this call of fit will make.
        start_step: the updates the model had before (a resumed run): the new
            event file purges the earlier files' events from this step on.
        seed: seeds the sample of rows.

    Each call notes the learning rate of a new history row (a closing call that
    repeats the last row, or reports restored weights, notes none) and takes the
    histograms whenever a tenth of the run has passed since the last ones, and
    at the final call. :meth:`finish` writes the history rows as scalars (so that
    they are history.csv's, and cost nothing between steps), the image and the
    hparams; :meth:`close` flushes the file (call it in a ``finally``).
    """

    def __init__(self, folder: str | Path, *, trainer, X: np.ndarray, activation: str | None,
                 total: int, start_step: int = 0, seed: int = 0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.events = EventFile(self.folder, purge_step=start_step or None)
        self.trainer = trainer
        self.activation = activation
        rows = np.arange(len(X))
        if len(X) > SAMPLE_ROWS:
            rows = np.sort(np.random.default_rng(seed).choice(len(X), SAMPLE_ROWS, replace=False))
        self.sample = np.asarray(X[rows])
        self.every = max(1, int(total) // HISTOGRAMS)
        self.next_histograms = start_step
        self.last_histograms: int | None = None
        self.last_row: int | None = None
        self.start_step = start_step
        self.lrs: dict[int, float | None] = {}

    def __call__(self, step: int, loss: float, metrics: dict) -> None:
        final = bool(metrics.get("final"))
        if "restored_step" not in metrics and (self.last_row is None or step > self.last_row):
            # the row's numbers are written from the history at the end; only the rate
            # the trainer used is not kept there
            self.lrs[step] = _number(getattr(self.trainer, "lr", None))
            self.last_row = step
        if step >= self.next_histograms or (final and step != self.last_histograms):
            self.histograms(step)

    def scalars(self, step: int, row: Mapping) -> None:
        """A history row's numbers (and the learning rate at ``step``, when known) as
        scalars at ``step``."""
        values = {scalar_tag(k): float(v) for k, v in row.items()
                  if isinstance(v, _NUMBERS) and not isinstance(v, bool) and k != "step"}
        lr = self.lrs.get(step)
        if lr is not None:
            values["lr"] = lr
        self.events.scalars(step, values)

    def history(self, rows) -> None:
        """The history rows of this call of fit (from its first step on) as scalars."""
        for row in rows:
            if row["step"] >= self.start_step:
                self.scalars(row["step"], row)

    def histograms(self, step: int) -> None:
        """Histograms of every W_i, b_i and of each layer's output on the sample rows."""
        state = self.trainer.state_dict()
        arrays = {f"weights/{k}": v for k, v in state.items()}
        if len(self.sample):
            with np.errstate(over="ignore", invalid="ignore"):
                arrays.update(layer_outputs(state, self.activation,
                                            self.sample.astype(next(iter(state.values())).dtype,
                                                               copy=False)))
        for tag, values in arrays.items():
            counted = histogram_counts(values)
            if counted is not None:  # the proto is made when the event is written
                self.events.add_summary(functools.partial(_histogram_proto, tag, *counted), step)
        self.last_histograms = step
        self.next_histograms = step + self.every

    def image(self, tag: str, png: Path, step: int) -> None:
        """A PNG file as an image, its bytes as they are (no decoding)."""
        from tensorboardX.proto.summary_pb2 import Summary

        data = png.read_bytes()
        width, height = png_size(data)
        image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=data)
        self.events.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def hparams(self, settings: Mapping, metrics: Mapping[str, float], step: int) -> None:
        """The settings as hparams, and ``metrics`` (tag -> value) as scalars at ``step``."""
        write_hparams(self.events, settings, metrics, step)

    def finish(self, run, folder: Path) -> None:
        """The end of a written run: its history rows as scalars, the boundary figure (2-D
        data) and the hparams."""
        step = run.fit.steps
        self.history(run.fit.history.rows)
        boundary = Path(folder) / "figures" / "boundary.png"
        if boundary.is_file():
            self.image("boundary", boundary, step)
        settings = {"name": run.name, **run.settings.to_dict()}
        self.hparams(settings, final_metrics(run.metrics), step)
        self.close()  # every event on disk before the run's manifest lists the files

    def close(self) -> None:
        self.events.close()


def write_hparams(events: EventFile, settings: Mapping, metrics: Mapping[str, float],
                  step: int) -> None:
    """The hparams of one session into ``events``'s folder (its run in TensorBoard), with
    ``metrics`` as scalars there (tensorboardX's ``add_hparams`` would open a subfolder)."""
    from tensorboardX.summary import hparams

    hp = {k: hparam_value(v) for k, v in settings.items()}
    _, start, end = hparams(hp, dict(metrics))
    # the session's start (its hparams) and end; no experiment summary: TensorBoard takes the
    # first one it finds for every run, while without one it gathers the hparams of all the
    # runs and the scalars of each (every run and sweep trial under --logdir then compares)
    events.add_summary(start, step)
    events.add_summary(end, step)
    if metrics:
        events.scalars(step, metrics)


def _wanted(settings) -> bool:
    """Whether a run of ``settings`` writes events here: they are on, and this process is the
    one that writes (not a rank other than 0 of a launched world)."""
    from neuralab.launch import writes_here

    return bool(settings.tensorboard) and writes_here()


@contextlib.contextmanager
def run_events(state, prep, resume=None):
    """The events of a run trained from ``prep`` (a :class:`~neuralab.lab.Prepared`) into the
    new state ``state`` (a :class:`~neuralab.runs.NewState`), for the block; None without a
    state or when :func:`_wanted` says no. ``resume``: the run continued (its ``start_step``).
    The file is closed however the block ends."""
    s = prep.settings
    if state is None or not _wanted(s):
        yield None
        return
    start_step = 0 if resume is None else resume.start_step
    n, size = len(prep.y), s.batch_size
    total = s.iterations if s.iterations is not None else s.epochs * (
        1 if size is None or size >= n else -(-n // size))
    events = RunEvents(state.folder / TENSORBOARD, trainer=prep.trainer, X=prep.X,
                       activation=s.activation if s.hidden else None, total=total,
                       start_step=start_step, seed=s.seed)
    try:
        yield events
    finally:
        events.close()


def finish_events(events: RunEvents | None, run, folder: Path) -> None:
    """The end of a run written into ``folder``: ``events`` finished, or, without them, the
    events written afterwards from the run's history (:func:`replay_run_events`)."""
    if events is not None:
        events.finish(run, folder)
    else:
        replay_run_events(run, folder)


def replay_run_events(run, folder: Path) -> None:
    """Events for a run trained elsewhere (the playground's, saved afterwards) in ``folder``:
    its history rows as scalars (without the learning rate, not kept per row), histograms of
    the final weights, the image and the hparams."""
    if not _wanted(run.settings):
        return
    train = run.splits["train"]
    X = run.predictor.scaler.transform(train.X)
    events = RunEvents(Path(folder) / TENSORBOARD, trainer=None, X=X,
                       activation=run.settings.activation if run.settings.hidden else None,
                       total=max(run.fit.steps, 1), seed=run.settings.seed)
    try:
        events.trainer = run.trainer
        events.histograms(run.fit.steps)
        events.finish(run, folder)
    finally:
        events.close()


def write_trial_events(folder: Path, trial) -> bool:
    """One sweep trial as a TensorBoard run of its own: its parameters as hparams, its scores
    (``score``, ``val_loss``, ``train_accuracy``, ``std``, ``seconds``) as scalars.

    ``trial`` is a :class:`~neuralab.sweep.trials.Trial`. A folder that already holds files
    (a resumed sweep's earlier trial) is left as it is; returns whether events were written.
    """
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    params = {k: v for k, v in trial.params.items()}
    params["status"] = trial.status
    metrics = {f"trial/{k}": v for k in ("score", "val_loss", "train_accuracy", "std", "seconds")
               if (v := _number(getattr(trial, k, None))) is not None and math.isfinite(v)}
    events = EventFile(folder)
    try:
        write_hparams(events, params, metrics, 0)
    finally:
        events.close()
    return True
